import io
import json

import pytest

from bookstore.web import MAX_BODY_FIELDS
from tests.conftest import PASSWORD, bearer

API = "/api/v1"
MAX_PROBLEM = 16 * 1024


def _assert_small_422(response):
    assert response.status_code == 422
    assert response.json["code"] == "validation_error"
    assert len(response.data) <= MAX_PROBLEM
    assert len(response.json["errors"]) <= 20


def test_ninety_thousand_unknown_keys_get_a_small_422(client):
    body = json.dumps({f"k{i}": 1 for i in range(90_000)}, separators=(",", ":"))
    assert len(body) < 1024 * 1024

    response = client.post(
        f"{API}/auth/login", data=body, content_type="application/json"
    )

    _assert_small_422(response)
    assert str(MAX_BODY_FIELDS) in response.json["errors"]["_schema"][0]


def test_many_unknown_fields_below_the_field_bound_list_twenty(client):
    body = {"username": "alice", "password": PASSWORD}
    body.update({f"extra{i}": 1 for i in range(40)})

    response = client.post(f"{API}/auth/register", json=body)

    _assert_small_422(response)
    assert len(response.json["errors"]) == 20
    assert "(20 of 40 shown.)" in response.json["detail"]


@pytest.mark.parametrize("size", [5_000, 200_000, 900_000])
def test_huge_field_names_are_cut_to_fit_the_bound(client, size):
    body = {f"{i}" + "x" * (size // 8): 1 for i in range(8)}

    response = client.post(f"{API}/auth/register", json=body)

    _assert_small_422(response)
    assert len(response.json["errors"]) == 10  # 8 unknown, username, password


def test_a_small_problem_is_untouched(client):
    response = client.post(f"{API}/auth/register", json={"username": "a"})

    assert response.status_code == 422
    assert set(response.json["errors"]) == {"username", "password"}
    assert "shown" not in response.json["detail"]


def _chunked(client, path, body: bytes, headers=None):
    return client.post(
        path,
        input_stream=io.BytesIO(body),
        headers={"Content-Type": "application/json", **(headers or {})},
        environ_overrides={"wsgi.input_terminated": True},  # as gunicorn sets
    )


@pytest.mark.parametrize("extra", [1, 1024 * 1024])
def test_a_chunked_body_over_the_limit_is_413(client, extra):
    body = b'{"username": "' + b"a" * (1024 * 1024 + extra) + b'"}'

    response = _chunked(client, f"{API}/auth/login", body)

    assert response.status_code == 413
    assert response.json["code"] == "payload_too_large"


def test_a_chunked_body_at_the_limit_is_read_whole(make_app):
    client = make_app(MAX_CONTENT_LENGTH=2048).test_client()
    body = json.dumps({"username": "alice", "password": "p" * 10}).encode()
    body = body[:-1] + b" " * (2048 - len(body)) + b"}"
    assert len(body) == 2048

    response = _chunked(client, f"{API}/auth/login", body)

    assert response.status_code == 401  # parsed: no such user


def test_a_chunked_body_under_the_limit_is_served(client, user):
    body = json.dumps({"username": "alice", "password": PASSWORD}).encode()

    response = _chunked(client, f"{API}/auth/login", body)

    assert response.status_code == 200


def test_no_content_responses_carry_no_content_type(client, user, login):
    pair = login("alice")
    book = client.post(
        f"{API}/books",
        json={"title": "T", "author": "A", "publisher": "P", "price": "1"},
        headers=bearer(pair),
    )
    etag = book.headers["ETag"]

    not_modified = client.get(
        f"{API}/books/{book.json['id']}",
        headers={**bearer(pair), "If-None-Match": etag},
    )
    deleted = client.delete(f"{API}/books/{book.json['id']}", headers=bearer(pair))
    logged_out = client.post(f"{API}/auth/logout", headers=bearer(pair))

    for response, status in ((not_modified, 304), (deleted, 204), (logged_out, 204)):
        assert response.status_code == status
        assert "Content-Type" not in response.headers
        assert response.data == b""


@pytest.fixture
def limited_client(make_app):
    from bookstore.extensions import limiter

    limiter._key_prefix = None
    app = make_app(
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI="memory://",
        RATELIMIT_REGISTER="2/hour",
    )
    return app.test_client()


def test_retry_after_only_on_429(limited_client):
    register = f"{API}/auth/register"
    created = limited_client.post(
        register, json={"username": "alice", "password": PASSWORD}
    )
    taken = limited_client.post(
        register, json={"username": "alice", "password": PASSWORD}
    )
    refused = limited_client.post(
        register, json={"username": "bob", "password": PASSWORD}
    )
    logged_in = limited_client.post(
        f"{API}/auth/login", json={"username": "alice", "password": PASSWORD}
    )
    failed = limited_client.post(
        f"{API}/auth/login", json={"username": "alice", "password": "wrong!"}
    )
    invalid = limited_client.post(f"{API}/auth/login", json={"x": 1})

    answers = (created, taken, logged_in, failed, invalid)
    assert [r.status_code for r in answers] == [201, 409, 200, 401, 422]
    assert all("Retry-After" not in r.headers for r in answers)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0


def test_vary_origin_on_every_response_when_cors_is_configured(make_app, user):
    client = make_app(CORS_ORIGINS=["https://shop.example"]).test_client()

    with_origin = client.get(f"{API}/books", headers={"Origin": "https://shop.example"})
    without_origin = client.get(f"{API}/openapi.json")
    other_origin = client.post(
        f"{API}/auth/login",
        json={"username": "alice", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )

    for response in (with_origin, without_origin, other_origin):
        assert "Origin" in response.vary


def test_no_vary_origin_when_cors_is_off(client):
    assert "Origin" not in client.get(f"{API}/openapi.json").vary
