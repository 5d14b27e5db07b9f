import pytest
import sqlalchemy as sa

from bookstore import create_app
from bookstore.extensions import db
from tests.databases import BACKENDS, fresh_database


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
