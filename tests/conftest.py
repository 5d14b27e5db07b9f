import os
import re
import threading
from contextlib import contextmanager
from pathlib import Path

import flask_migrate
import pytest
import sqlalchemy as sa
from werkzeug.serving import WSGIRequestHandler, make_server

from bookstore import create_app
from bookstore.extensions import db
from tests.databases import BACKENDS, fresh_database

ROOT = Path(__file__).resolve().parents[1]


def _hermetic_environment() -> None:
    """No .env and no outside setting can change the suite's outcome.

    Every variable the service reads is listed in .env.example; those, and any
    BOOKSTORE_/GUNICORN_/FLASK_/PROMETHEUS_ variable, are removed before an app is
    built, and FLASK_SKIP_DOTENV=1 keeps .env away from the suite and the processes
    it starts.
    Only TEST_* variables (the suite's own) come in from outside.
    """
    example = (ROOT / ".env.example").read_text()
    names = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", example, flags=re.MULTILINE))
    for name in list(os.environ):
        if name in names or name.startswith(
            ("BOOKSTORE_", "GUNICORN_", "FLASK_", "PROMETHEUS_")
        ):
            del os.environ[name]
    os.environ["FLASK_SKIP_DOTENV"] = "1"


_hermetic_environment()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture(scope="session")
def database_url(backend, tmp_path_factory):
    """One database per backend for the session, schema built from the models."""
    with fresh_database(backend, tmp_path_factory.mktemp("db")) as url:
        app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            db.create_all()
            flask_migrate.stamp()  # = head: test_migrations proves they agree
            db.engine.dispose()
        yield url


@pytest.fixture
def make_app(database_url):
    """Build apps on the session database; every table is emptied afterwards."""
    apps = []

    def make(**overrides):
        overrides.setdefault("SQLALCHEMY_DATABASE_URI", database_url)
        app = create_app("testing", **overrides)
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            db.engine.dispose()
    _empty_tables(create_app("testing", SQLALCHEMY_DATABASE_URI=database_url))


def _empty_tables(app):
    with app.app_context():
        with db.engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):
                connection.execute(sa.delete(table))
        db.engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


PASSWORD = "correct horse battery staple"


@pytest.fixture
def register(client):
    """Register a user through the API; return its user object."""

    def register(username: str, password: str = PASSWORD, **extra) -> dict:
        response = client.post(
            "/api/v1/auth/register",
            json={"username": username, "password": password, **extra},
        )
        assert response.status_code == 201, response.json
        return response.json

    return register


@pytest.fixture
def login(client):
    """Log in through the API; return the token pair."""

    def login(username: str, password: str = PASSWORD) -> dict:
        response = client.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        )
        assert response.status_code == 200, response.json
        return response.json

    return login


def bearer(pair: dict) -> dict:
    return {"Authorization": f"Bearer {pair['access_token']}"}


@pytest.fixture
def user(register):
    return register("alice")


@pytest.fixture
def auth_headers(user, login):
    return bearer(login("alice"))


@pytest.fixture
def other_user(register):
    return register("mallory")


@pytest.fixture
def other_headers(other_user, login):
    return bearer(login("mallory"))


@pytest.fixture
def admin(register, app):
    from bookstore.auth.models import User

    created = register("root-admin")
    with app.app_context():
        db.session.execute(
            sa.update(User).where(User.username == "root-admin").values(is_admin=True)
        )
        db.session.commit()
    return created


@pytest.fixture
def admin_headers(admin, login):
    return bearer(login("root-admin"))


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):  # the app logs each request itself
        pass


@contextmanager
def serving(app, *, threaded: bool = False):
    """Serve `app` on a free loopback port from a thread; yield its base URL."""
    server = make_server(
        "127.0.0.1", 0, app, threaded=threaded, request_handler=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
