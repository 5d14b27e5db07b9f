import time
from collections import Counter

import jwt
import pytest

from tests.databases import fresh_database
from tests.reliability.servers import Gunicorn, bearer, migrate, race

N = 12
BOOK = {"title": "Dune", "author": "Frank Herbert", "publisher": "Chilton", "price": 9}


@pytest.fixture(scope="module")
def server(backend, tmp_path_factory):
    """One gunicorn per backend for the module; each test uses its own users."""
    directory = tmp_path_factory.mktemp("concurrency")
    with fresh_database(backend, directory) as url:
        migrate(url)
        server = Gunicorn(
            directory, DATABASE_URL=url, GUNICORN_WORKERS="4", JWT_REFRESH_GRACE="3"
        )
        try:
            yield server.start()
        finally:
            server.stop()


def _sid(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["sid"]


def _report(name, responses):
    statuses = Counter(r.status for r in responses)
    print(f"\n[concurrency {name}] requests={len(responses)} statuses={dict(statuses)}")
    return statuses


@pytest.mark.slow
def test_parallel_registrations_of_one_username_make_exactly_one_account(server):
    spellings = ["racer", "Racer", "RACER"]

    responses = race(N, lambda i: server.register(spellings[i % 3]))

    statuses = _report("register", responses)
    assert statuses == {201: 1, 409: N - 1}
    assert all(r.body["code"] == "conflict" for r in responses if r.status == 409)
    winner = next(r.body["username"] for r in responses if r.status == 201)
    assert server.login(winner.swapcase())["access_token"]


@pytest.mark.slow
def test_parallel_refreshes_inside_the_grace_window_all_get_pairs_for_one_session(
    server,
):
    server.register("tabs")
    pair = server.login("tabs")
    body = {"refresh_token": pair["refresh_token"]}

    responses = race(N, lambda i: server.call("POST", "/api/v1/auth/refresh", body))

    statuses = _report("refresh-in-grace", responses)
    assert statuses == {200: N}
    assert {_sid(r.body["refresh_token"]) for r in responses} == {
        _sid(pair["refresh_token"])
    }
    for r in responses:  # every tab's new access token works
        assert (
            server.call("GET", "/api/v1/users/me", headers=bearer(r.body)).status == 200
        )


@pytest.mark.slow
def test_parallel_reuse_after_the_grace_window_revokes_the_session(server):
    server.register("thief")
    first = server.login("thief")
    body = {"refresh_token": first["refresh_token"]}
    second = server.call("POST", "/api/v1/auth/refresh", body).body
    time.sleep(4)  # past JWT_REFRESH_GRACE=3: a replay of `first` is now reuse

    responses = race(N, lambda i: server.call("POST", "/api/v1/auth/refresh", body))

    statuses = _report("refresh-reuse", responses)
    assert statuses == {401: N}
    codes = Counter(r.body["code"] for r in responses)
    assert codes["token_reused"] >= 1
    assert set(codes) <= {"token_reused", "token_revoked"}
    me = server.call("GET", "/api/v1/users/me", headers=bearer(second))
    assert (me.status, me.body["code"]) == (401, "token_revoked")
    again = server.call(
        "POST", "/api/v1/auth/refresh", {"refresh_token": second["refresh_token"]}
    )
    assert again.status == 401


@pytest.mark.slow
def test_parallel_patches_with_one_if_match_let_exactly_one_win(server):
    server.register("editor")
    headers = bearer(server.login("editor"))
    created = server.call("POST", "/api/v1/books", BOOK, headers)
    assert created.status == 201, created
    path, etag = f"/api/v1/books/{created.body['id']}", created.headers["etag"]

    responses = race(
        N,
        lambda i: server.call(
            "PATCH", path, {"title": f"Title {i}"}, {**headers, "If-Match": etag}
        ),
    )

    statuses = _report("patch-if-match", responses)
    assert statuses == {200: 1, 412: N - 1}
    winner = next(r for r in responses if r.status == 200)
    final = server.call("GET", path, headers=headers)
    assert final.body["title"] == winner.body["title"]
    assert final.headers["etag"] == winner.headers["etag"] != etag


@pytest.mark.slow
def test_parallel_creates_with_one_idempotency_key_make_one_book(server):
    server.register("retrier")
    headers = {**bearer(server.login("retrier")), "Idempotency-Key": "k-123"}

    responses = race(N, lambda i: server.call("POST", "/api/v1/books", BOOK, headers))

    statuses = _report("idempotent-create", responses)
    assert statuses == {201: N}
    assert len({r.body["id"] for r in responses}) == 1
    listing = server.call("GET", "/api/v1/books", headers=headers)
    assert listing.body["total"] == 1
