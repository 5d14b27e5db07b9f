import os
import socket
import uuid

import pytest

from bookstore.extensions import limiter
from tests.books.conftest import BOOKS, book_body
from tests.conftest import PASSWORD, bearer

REDIS_URL = os.environ.get("TEST_REDIS_URL")
STORAGES = ["memory://"] + ([REDIS_URL] if REDIS_URL else [])


def _limited_app(make_app, storage, **settings):
    limiter._key_prefix = None  # one limiter for every app: this test's prefix
    return make_app(
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=storage,
        RATELIMIT_KEY_PREFIX=f"test-{uuid.uuid4().hex}",
        RATELIMIT_REGISTER="1000/hour",
        RATELIMIT_LOGIN_PER_ADDRESS="1000/hour",
        **settings,
    )


def _headers_for(client, username, address="10.0.0.1"):
    client.environ_base["REMOTE_ADDR"] = address
    client.post(
        "/api/v1/auth/register", json={"username": username, "password": PASSWORD}
    )
    login = client.post(
        "/api/v1/auth/login", json={"username": username, "password": PASSWORD}
    )
    assert login.status_code == 200, login.json
    return bearer(login.json)


def _create(client, headers, **kwargs):
    return client.post(BOOKS, json=book_body(), headers=headers, **kwargs)


@pytest.fixture(params=STORAGES, ids=lambda uri: uri.split(":")[0])
def limited(request, make_app):
    return _limited_app(make_app, request.param, RATELIMIT_WRITES_PER_USER="3/minute")


def test_writes_past_the_per_user_limit_are_429_with_retry_after(limited):
    client = limited.test_client()
    alice = _headers_for(client, "alice")
    first = _create(client, alice).json["id"]
    client.patch(f"{BOOKS}/{first}", json={"price": "1"}, headers=alice)
    client.delete(f"{BOOKS}/{first}", headers=alice)

    response = _create(client, alice)

    assert response.status_code == 429
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json["code"] == "rate_limited"
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert client.get(BOOKS, headers=alice).status_code == 200  # reads are free


def test_the_write_limit_follows_the_user_not_the_address(limited):
    client = limited.test_client()
    alice = _headers_for(client, "alice", "10.0.0.1")
    mallory = _headers_for(client, "mallory", "10.0.0.1")
    for address in ("10.0.0.2", "10.0.0.3", "10.0.0.4"):
        client.environ_base["REMOTE_ADDR"] = address
        assert _create(client, alice).status_code == 201

    client.environ_base["REMOTE_ADDR"] = "10.0.0.5"
    refused = _create(client, alice)
    client.environ_base["REMOTE_ADDR"] = "10.0.0.1"
    other = _create(client, mallory)

    assert refused.status_code == 429
    assert other.status_code == 201


def test_invalid_writes_count_too(limited):
    client = limited.test_client()
    alice = _headers_for(client, "alice")
    for _ in range(3):
        bad = client.post(BOOKS, json={"title": ""}, headers=alice)
        assert bad.status_code == 422

    assert _create(client, alice).status_code == 429


def test_user_administration_writes_are_limited_too(make_app):
    app = _limited_app(make_app, "memory://", RATELIMIT_WRITES_PER_USER="1/minute")
    client = app.test_client()
    alice = _headers_for(client, "alice")
    me = client.get("/api/v1/users/me", headers=alice).json["id"]
    assert _create(client, alice).status_code == 201

    response = client.delete(f"/api/v1/users/{me}", headers=alice)

    assert response.status_code == 429
    assert client.get("/api/v1/users/me", headers=alice).status_code == 200


def test_writes_keep_working_when_the_limit_store_is_unreachable(make_app, caplog):
    secret = "s" * 64
    plain = make_app(SECRET_KEY=secret)
    alice = _headers_for(plain.test_client(), "alice")  # before the store dies
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    app = _limited_app(
        make_app,
        f"redis://127.0.0.1:{closed}/0",
        SECRET_KEY=secret,
        RATELIMIT_WRITES_PER_USER="1/minute",
    )
    client = app.test_client()

    created = [_create(client, alice).status_code for _ in range(3)]
    login = client.post(
        "/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}
    )

    assert created == [201, 201, 201]  # fails open
    assert "write limit store unreachable" in caplog.text
    assert login.status_code == 503  # credentials still fail closed
