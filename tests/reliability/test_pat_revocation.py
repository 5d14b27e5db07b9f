"""Personal access tokens on real gunicorn workers: revocation everywhere at once,
and the per-user limit under concurrent mints."""

import secrets
from collections import Counter

import pytest

from tests.reliability.servers import Gunicorn, bearer, race

TOKENS = "/api/v1/auth/tokens"
N = 16


@pytest.fixture
def two_servers(served_database, tmp_path):
    """Two gunicorns of two workers each, on one database and one signing key."""
    env = {"DATABASE_URL": served_database, "SECRET_KEY": secrets.token_hex(32)}
    servers = [Gunicorn(tmp_path, **env), Gunicorn(tmp_path, **env)]
    try:
        yield tuple(server.start() for server in servers)
    finally:
        for server in servers:
            server.stop()


def _mint(server, headers, scopes=("profile:read",)):
    response = server.call(
        "POST", TOKENS, {"name": "ci", "scopes": list(scopes)}, headers
    )
    assert response.status == 201, (response, server.log_tail())
    return response.body


def _everywhere(servers, path, headers):
    """N concurrent requests spread over every server (and so every worker)."""
    return race(N, lambda i: servers[i % 2].call("GET", path, headers=headers))


@pytest.mark.slow
def test_deleting_a_token_or_its_user_stops_it_on_every_worker(two_servers):
    a, b = two_servers
    assert a.register("owner").status == 201
    login = bearer(b.login("owner"))
    token, other = _mint(a, login), _mint(a, login)
    headers = {"Authorization": f"Bearer {token['token']}"}

    before = _everywhere(two_servers, "/api/v1/users/me", headers)
    deleted = b.call("DELETE", f"{TOKENS}/{token['id']}", headers=login)
    after = _everywhere(two_servers, "/api/v1/users/me", headers)

    assert Counter(r.status for r in before) == {200: N}
    assert deleted.status == 204
    assert Counter((r.status, r.body["code"]) for r in after) == {
        (401, "token_revoked"): N
    }
    me = b.call("GET", "/api/v1/users/me", headers=login).body
    assert a.call("DELETE", f"/api/v1/users/{me['id']}", headers=login).status == 204
    orphaned = {"Authorization": f"Bearer {other['token']}"}
    assert {r.status for r in _everywhere(two_servers, "/api/v1/books", orphaned)} == {
        401
    }


@pytest.mark.slow
def test_concurrent_mints_never_pass_the_limit_of_100(two_servers):
    a, b = two_servers
    assert a.register("minter").status == 201
    login = bearer(a.login("minter"))
    for _ in range(99):
        _mint(a, login)

    responses = race(
        N,
        lambda i: two_servers[i % 2].call(
            "POST", TOKENS, {"name": f"race {i}", "scopes": ["books:read"]}, login
        ),
    )

    assert Counter(r.status for r in responses) == {201: 1, 409: N - 1}
    listed = b.call("GET", f"{TOKENS}?per_page=1", headers=login)
    assert listed.body["total"] == 100
