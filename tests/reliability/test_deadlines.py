import sqlite3
import threading
import time

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bookstore.extensions import db
from tests.conftest import PASSWORD
from tests.reliability.proxy import FREEZE
from tests.reliability.servers import bearer

DEADLINE = 2  # DATABASE_STATEMENT_TIMEOUT in these tests
# API.md: a frozen database costs a request at most the timeout, plus one second.
ALLOWED = DEADLINE + 1
REGISTER = "/api/v1/auth/register"


@pytest.fixture
def sqlite_file(backend, database_url):
    if backend != "sqlite":
        pytest.skip("SQLite's own lock")
    return make_url(database_url).database


def _register(client, username):
    started = time.monotonic()
    response = client.post(REGISTER, json={"username": username, "password": PASSWORD})
    return response, time.monotonic() - started


def _hold_write_lock(path: str) -> sqlite3.Connection:
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # the one writer's lock, until ROLLBACK
    return holder


def test_sqlite_write_lock_held_past_the_deadline_is_503_in_time(make_app, sqlite_file):
    client = make_app(DATABASE_STATEMENT_TIMEOUT=DEADLINE).test_client()
    holder = _hold_write_lock(sqlite_file)
    try:
        response, elapsed = _register(client, "alice")
    finally:
        holder.rollback()
        holder.close()

    print(f"\n[deadline sqlite] held lock: {response.status_code} in {elapsed:.2f}s")
    assert response.status_code == 503
    assert response.json["code"] == "service_unavailable"
    assert int(response.headers["Retry-After"]) > 0
    assert DEADLINE - 0.5 <= elapsed <= ALLOWED  # waited for the lock, then gave up


def test_sqlite_write_lock_released_within_the_deadline_is_waited_out(
    make_app, sqlite_file
):
    client = make_app(DATABASE_STATEMENT_TIMEOUT=DEADLINE).test_client()
    holder = _hold_write_lock(sqlite_file)
    release = threading.Timer(0.5, holder.rollback)
    release.start()
    try:
        response, _ = _register(client, "alice")
    finally:
        release.join()
        holder.close()

    assert response.status_code == 201, response.json


@pytest.fixture
def postgres_app(make_app, backend):
    if backend != "postgresql":
        pytest.skip("PostgreSQL's statement_timeout")
    app = make_app(DATABASE_STATEMENT_TIMEOUT=DEADLINE)

    @app.get("/_test/slow")
    def slow():
        db.session.execute(sa.text("SELECT pg_sleep(30)"))
        return {"status": "done"}

    @app.get("/_test/two-waits")
    def two_waits():
        # Each under the timeout, together over it: the budget is the request's.
        db.session.execute(sa.text("SELECT pg_sleep(:s)"), {"s": DEADLINE * 0.6})
        db.session.execute(sa.text("SELECT pg_sleep(:s)"), {"s": DEADLINE * 0.6})
        return {"status": "done"}

    @app.get("/_test/one-wait")
    def one_wait():
        db.session.execute(sa.text("SELECT pg_sleep(:s)"), {"s": DEADLINE * 0.6})
        return {"status": "done"}

    @app.get("/_test/slow-elsewhere")
    def slow_elsewhere():
        time.sleep(DEADLINE + 0.5)  # not a wait on the database: not charged
        db.session.execute(sa.text("SELECT 1"))
        return {"status": "done"}

    return app


def test_postgres_statement_past_the_deadline_is_cancelled_with_503(postgres_app):
    client = postgres_app.test_client()
    started = time.monotonic()

    response = client.get("/_test/slow")

    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.json["code"] == "service_unavailable"
    assert elapsed <= ALLOWED
    assert client.get("/readyz").status_code == 200  # and the next request is served


def test_postgres_waits_add_up_to_one_budget_per_request(postgres_app):
    client = postgres_app.test_client()
    started = time.monotonic()

    response = client.get("/_test/two-waits")

    assert response.status_code == 503
    assert time.monotonic() - started <= ALLOWED


def test_postgres_each_request_starts_with_the_whole_budget(postgres_app):
    client = postgres_app.test_client()

    # Together over the timeout, each under it: no request inherits what the
    # one before it spent.
    first = client.get("/_test/one-wait")
    second = client.get("/_test/one-wait")

    assert (first.status_code, second.status_code) == (200, 200)


def test_postgres_time_spent_outside_the_database_is_not_charged(postgres_app):
    response = postgres_app.test_client().get("/_test/slow-elsewhere")

    assert response.status_code == 200


@pytest.mark.slow
def test_frozen_postgres_costs_each_request_at_most_its_deadline(db_proxy, gunicorn):
    proxy, proxied_url = db_proxy
    server = gunicorn(
        DATABASE_URL=proxied_url,
        DATABASE_STATEMENT_TIMEOUT=str(DEADLINE),
        GUNICORN_WORKERS="1",  # every request below meets the same frozen pool
    )
    assert server.register("reader").status == 201
    headers = bearer(server.login("reader"))
    assert server.call("GET", "/api/v1/users/me", headers=headers).status == 200

    proxy.cut(FREEZE)
    try:
        # Sequential: each request's time is its own wait, not a queue's. The
        # first meets pooled connections (pre-ping), the later ones new connects.
        frozen = [
            ("me", server.call("GET", "/api/v1/users/me", headers=headers)),
            ("register", server.register("frozen-1")),
            ("books", server.call("GET", "/api/v1/books", headers=headers)),
            ("readyz", server.call("GET", "/readyz")),
            ("register", server.register("frozen-2")),
        ]
        health = server.call("GET", "/healthz", timeout=5)
    finally:
        proxy.restore()

    waits = ", ".join(f"{name} {r.status} {r.elapsed:.2f}s" for name, r in frozen)
    print(f"\n[deadline frozen postgres, timeout {DEADLINE}s] {waits}")
    for _, response in frozen:
        assert response.status == 503, (response, server.log_tail())
        assert response.body["code"] == "service_unavailable"
        assert response.elapsed <= ALLOWED
    assert health.status == 200

    deadline = time.monotonic() + 30
    while server.call("GET", "/readyz").status != 200:
        assert time.monotonic() < deadline, server.log_tail()
        time.sleep(0.2)
    assert server.call("GET", "/api/v1/users/me", headers=headers).status == 200
    assert server.register("after-the-freeze").status == 201
