import secrets

import pytest

from tests.auth.helpers import API
from tests.conftest import PASSWORD


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
