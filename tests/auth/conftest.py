import os
import secrets
import uuid

import pytest

from bookstore.extensions import limiter
from tests.auth.helpers import API
from tests.conftest import PASSWORD
from tests.reliability.servers import delete_rate_limit_keys


@pytest.fixture
def two_clients(make_app):
    """Two app instances on one database: what every worker and host sees."""
    secret = secrets.token_hex(32)  # testing apps draw a random key each otherwise
    first, second = make_app(SECRET_KEY=secret), make_app(SECRET_KEY=secret)
    return first.test_client(), second.test_client()


def login_on(client, username="alice"):
    response = client.post(
        f"{API}/auth/login", json={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 200, response.json
    return response.json


@pytest.fixture
def alice(two_clients):
    one, _ = two_clients
    response = one.post(
        f"{API}/auth/register", json={"username": "alice", "password": PASSWORD}
    )
    assert response.status_code == 201


REDIS_URL = os.environ.get("TEST_REDIS_URL")
STORAGES = ["memory://"] + ([REDIS_URL] if REDIS_URL else [])


@pytest.fixture(params=STORAGES, ids=lambda uri: uri.split(":")[0])
def storage(request):
    return request.param


@pytest.fixture
def limited(make_app, storage):
    """Build a rate-limited app (last: Flask-Limiter keeps one set of settings)."""
    yield _build_limited(make_app, storage)
    if storage.startswith("redis"):
        _delete_our_keys(storage)


def _delete_our_keys(uri):
    # Only keys under our test- prefixes: other sessions share this server.
    prefix = limiter._key_prefix or ""
    if prefix.startswith("test-"):
        delete_rate_limit_keys(uri, prefix)


def _build_limited(make_app, storage):
    def build(**limits):
        # Flask-Limiter keeps one key prefix for its single instance: the first app's.
        # Reset it so this test's counters live under its own prefix (and are deleted).
        limiter._key_prefix = None
        app = make_app(
            RATELIMIT_ENABLED=True,
            RATELIMIT_STORAGE_URI=storage,
            RATELIMIT_KEY_PREFIX=f"test-{uuid.uuid4().hex}",
            **limits,
        )
        # A random client address per test: counters never leak between tests, even
        # in a shared Redis and even if the limiter keeps its first key prefix.
        address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        return client

    return build
