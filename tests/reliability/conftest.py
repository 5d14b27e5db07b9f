import contextlib
import os

import pytest
from sqlalchemy.engine import make_url

from tests.databases import fresh_database
from tests.reliability.proxy import Proxy
from tests.reliability.servers import Gunicorn, migrate


@pytest.fixture
def served_database(backend, tmp_path):
    """A fresh database at the latest migration, for servers to share."""
    with fresh_database(backend, tmp_path) as url:
        migrate(url)
        yield url


@pytest.fixture
def sqlite_url(tmp_path):
    """A migrated SQLite file, for tests where the database is not the point."""
    url = f"sqlite:///{tmp_path / 'served.sqlite3'}"
    migrate(url)
    return url


@pytest.fixture
def postgres_only(backend):
    if backend != "postgresql":
        pytest.skip("needs a TCP database to put a proxy in front of")


@pytest.fixture
def db_proxy(postgres_only, served_database):
    """A proxy in front of the test's PostgreSQL database; yields (proxy, url)."""
    url = make_url(served_database)
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    try:
        yield proxy, url.set(port=proxy.port).render_as_string(hide_password=False)
    finally:
        proxy.close()


@pytest.fixture
def gunicorn(tmp_path):
    """Start gunicorn servers with gunicorn(**env); every one is stopped afterwards."""
    servers = []

    def start(**env):
        server = Gunicorn(tmp_path, **env)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        with contextlib.suppress(Exception):
            server.stop()


@pytest.fixture(scope="session")
def redis_url():
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("TEST_REDIS_URL is not set")
    return url
