"""X-RateLimit-* headers where a limit was checked, and only there.

Flask-Limiter's after-request and teardown hooks run only for a request that
checked a limit (extensions.limit_hooks_only_when_checked); these tests hold
what they write to what Flask-Limiter writes.
"""

from flask import Flask

from bookstore.extensions import limiter
from tests.auth.helpers import API
from tests.conftest import PASSWORD

LOGIN, REGISTER = f"{API}/auth/login", f"{API}/auth/register"
LIMIT_HEADERS = {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}


def _login(client):
    return client.post(LOGIN, json={"username": "alice", "password": PASSWORD})


def test_a_limited_endpoint_carries_its_limit_headers(limited):
    client = limited(RATELIMIT_LOGIN_PER_ADDRESS="3/minute")
    assert (
        client.post(
            REGISTER, json={"username": "alice", "password": PASSWORD}
        ).status_code
        == 201
    )

    answers = [_login(client) for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers.get("X-RateLimit-Remaining") for a in answers] == [
        "2",
        "1",
        "0",
        "0",
    ]
    for answer in answers:
        assert LIMIT_HEADERS <= set(answer.headers.keys())
        assert answer.headers["X-RateLimit-Limit"] == "3"
    assert int(answers[-1].headers["Retry-After"]) >= 1


def test_requests_that_check_no_limit_carry_no_limit_headers(limited):
    client = limited(RATELIMIT_LOGIN_PER_ADDRESS="3/minute")
    client.post(REGISTER, json={"username": "alice", "password": PASSWORD})
    token = _login(client).json["access_token"]

    answers = [
        client.get("/healthz"),
        client.get(f"{API}/books", headers={"Authorization": f"Bearer {token}"}),
        client.get(f"{API}/books", headers={"Authorization": "Bearer nonsense"}),
        client.get(f"{API}/no-such-thing"),
    ]

    assert [a.status_code for a in answers] == [200, 200, 401, 404]
    for answer in answers:
        assert not LIMIT_HEADERS & set(answer.headers.keys())
        assert "Retry-After" not in answer.headers


def test_the_limiter_hooks_are_all_wrapped(limited):
    """Flask-Limiter's own hooks are found (a new version renaming them would
    leave them unwrapped: correct, but paying per request again)."""
    app: Flask = limited().application
    after = app.after_request_funcs[None]
    teardown = app.teardown_request_funcs[None]

    wrapped = [h.limiter_hook for h in after + teardown if hasattr(h, "limiter_hook")]

    assert len(wrapped) == 2
    assert limiter._Limiter__release_context in wrapped
    assert not any(h in after + teardown for h in wrapped)
