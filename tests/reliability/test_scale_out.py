import secrets
import uuid

import pytest
import redis

from tests.databases import fresh_database
from tests.reliability.servers import Gunicorn, bearer, migrate

BOOK = {"title": "Dune", "author": "Frank Herbert", "publisher": "Chilton", "price": 9}


@pytest.fixture(scope="module")
def rate_limit_prefix(redis_url):
    """A Redis key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"bookstore-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"*{prefix}*", count=500))[:10_000]
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(scope="module")
def two_instances(backend, tmp_path_factory, redis_url, rate_limit_prefix):
    """Two gunicorns (two ports) on one PostgreSQL database and one Redis.

    Shared by the module (each test has its own users); the key-rotation test
    restarts them and so runs last.
    """
    if backend != "postgresql":
        pytest.skip("scale-out runs on PostgreSQL")
    directory = tmp_path_factory.mktemp("scale-out")
    with fresh_database(backend, directory) as url:
        migrate(url)
        env = {
            "DATABASE_URL": url,
            "SECRET_KEY": secrets.token_hex(32),
            "RATELIMIT_ENABLED": "true",
            "RATELIMIT_STORAGE_URI": redis_url,
            "RATELIMIT_KEY_PREFIX": rate_limit_prefix,
            "RATELIMIT_LOGIN_PER_ADDRESS": "1000/minute",
            "RATELIMIT_LOGIN_FAILURES_PER_ACCOUNT_ADDRESS": "3/minute",
            "RATELIMIT_REGISTER": "1000/hour",
        }
        servers = [Gunicorn(directory, **env), Gunicorn(directory, **env)]
        try:
            yield tuple(server.start() for server in servers)
        finally:
            for server in servers:
                server.stop()


@pytest.mark.slow
def test_two_instances_serve_the_same_data_and_revoke_at_once(two_instances):
    a, b = two_instances
    assert a.register("shared").status == 201
    pair = b.login("shared")
    headers = bearer(pair)

    created = a.call("POST", "/api/v1/books", BOOK, headers)
    seen_by_b = b.call("GET", f"/api/v1/books/{created.body['id']}", headers=headers)
    listed_by_b = b.call("GET", "/api/v1/books", headers=headers)
    logout = a.call("POST", "/api/v1/auth/logout", headers=headers)
    after_logout = b.call("GET", "/api/v1/users/me", headers=headers)
    refresh = b.call(
        "POST", "/api/v1/auth/refresh", {"refresh_token": pair["refresh_token"]}
    )

    assert created.status == 201
    assert (seen_by_b.status, seen_by_b.body) == (200, created.body)
    assert seen_by_b.headers["etag"] == created.headers["etag"]
    assert [book["id"] for book in listed_by_b.body["items"]] == [created.body["id"]]
    assert logout.status == 204
    assert (after_logout.status, after_logout.body["code"]) == (401, "token_revoked")
    assert refresh.status == 401


@pytest.mark.slow
def test_two_instances_share_rate_limit_counters_in_redis(two_instances):
    a, b = two_instances
    assert a.register("victim").status == 201
    wrong = {"username": "victim", "password": "not the password"}

    failures = [s.call("POST", "/api/v1/auth/login", wrong) for s in (a, b, a)]
    blocked_on_b = b.call("POST", "/api/v1/auth/login", wrong)
    blocked_on_a = a.call("POST", "/api/v1/auth/login", wrong)

    print(
        f"\n[scale-out rate limit] statuses={[r.status for r in failures]}"
        f" then {blocked_on_b.status}, {blocked_on_a.status}"
    )
    assert [r.status for r in failures] == [401, 401, 401]
    assert (blocked_on_b.status, blocked_on_b.body["code"]) == (429, "rate_limited")
    assert blocked_on_a.status == 429
    assert int(blocked_on_b.headers["retry-after"]) > 0


@pytest.mark.slow
def test_key_rotation_rolled_out_to_both_instances_keeps_old_tokens_valid(
    two_instances,
):
    a, b = two_instances
    old_secret, new_secret = a.env["SECRET_KEY"], secrets.token_hex(32)
    assert a.register("rotator").status == 201
    old_pair = a.login("rotator")

    for server in (a, b):  # the rollout: new key, old one kept for verification
        server.restart(SECRET_KEY=new_secret, JWT_PREVIOUS_SECRETS=old_secret)
    on_a = a.call("GET", "/api/v1/users/me", headers=bearer(old_pair))
    on_b = b.call("GET", "/api/v1/users/me", headers=bearer(old_pair))
    refreshed = b.call(
        "POST", "/api/v1/auth/refresh", {"refresh_token": old_pair["refresh_token"]}
    )
    new_on_a = a.call("GET", "/api/v1/users/me", headers=bearer(refreshed.body))
    a.restart(JWT_PREVIOUS_SECRETS="")  # the old key finally retired on A
    retired = a.call("GET", "/api/v1/users/me", headers=bearer(old_pair))
    new_still = a.call("GET", "/api/v1/users/me", headers=bearer(refreshed.body))

    assert (on_a.status, on_b.status) == (200, 200)
    assert refreshed.status == 200
    assert new_on_a.status == 200
    assert (retired.status, retired.body["code"]) == (401, "invalid_token")
    assert new_still.status == 200
