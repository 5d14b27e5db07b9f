import time

import psycopg
import pytest
import sqlalchemy as sa

from bookstore.extensions import db
from tests.databases import _conninfo
from tests.reliability.load import Load
from tests.reliability.proxy import BLACKHOLE, REFUSE
from tests.reliability.servers import bearer

CONNECT_TIMEOUT = 2  # libpq's minimum that it honours
# A request in the cut waits at most about one connect timeout, plus one queued
# request ahead of it on the same worker; a hang would last the 30 s client timeout.
MAX_FAULT_SECONDS = 15


def _users(url: str) -> dict[str, tuple]:
    with psycopg.connect(_conninfo(url), connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT username, username_key, password_hash, public_id, created_at,"
            " is_active FROM users"
        ).fetchall()
    return {row[0]: row for row in rows}


@pytest.mark.slow
@pytest.mark.parametrize("mode", [REFUSE, BLACKHOLE])
def test_database_cut_mid_load_answers_503_fast_and_recovers_without_restart(
    served_database, db_proxy, gunicorn, mode
):
    proxy, proxied_url = db_proxy
    server = gunicorn(
        DATABASE_URL=proxied_url,
        DATABASE_STATEMENT_TIMEOUT=str(CONNECT_TIMEOUT),
    )
    workers = server.workers()
    assert server.register("reader").status == 201
    headers = bearer(server.login("reader"))

    # Each way a request reaches the database: the ORM Session (register,
    # /users/me) and the DBAPI connection directly (the list's read, a create).
    def step(thread: int, i: int):
        if i % 4 == 0:
            name = f"u{thread}-{i}"
            return name, server.register(name)
        if i % 4 == 1:
            me = server.call("GET", "/api/v1/users/me", headers=headers, timeout=30)
            return "me", me
        if i % 4 == 2:
            books = server.call("GET", "/api/v1/books", headers=headers, timeout=30)
            return "list", books
        book = {
            "title": f"Cut {i}",
            "author": "A. Writer",
            "publisher": "P",
            "price": "9",
        }
        created = server.call("POST", "/api/v1/books", book, headers, timeout=30)
        return "create", created

    load = Load(step, threads=4, per_thread=60).start()
    try:
        load.wait_for(16)
        cut_at = time.monotonic()
        proxy.cut(mode)
        load.wait_for(12, since=cut_at + 0.5)
        ready_in_cut = server.call("GET", "/readyz", timeout=30)
        health_in_cut = server.call("GET", "/healthz", timeout=30)
        restored_at = time.monotonic()
        proxy.restore()
        deadline = time.monotonic() + 60
        while server.call("GET", "/readyz", timeout=30).status != 200:
            assert time.monotonic() < deadline, server.log_tail()
            time.sleep(0.2)
        load.wait_for(8, since=time.monotonic())
    finally:
        outcomes = load.stop()

    during = [
        o
        for o in outcomes
        if cut_at + 0.5 <= o.started and o.started + o.response.elapsed < restored_at
    ]
    statuses = [o.response.status for o in outcomes]
    print(
        f"\n[db-fault {mode}] requests={len(outcomes)} in_cut={len(during)} "
        f"503={statuses.count(503)} 5xx_other="
        f"{sum(s >= 500 and s != 503 for s in statuses)} no_answer={statuses.count(0)}"
        f" slowest={max(o.response.elapsed for o in outcomes):.1f}s"
    )
    assert during, "no request ran while the database was cut"
    assert all(o.response.status == 503 for o in during), [
        (o.label, o.response.status) for o in during
    ]
    assert all(o.response.body["code"] == "service_unavailable" for o in during)
    assert 0 not in statuses, "a request got no answer (hang or worker death)"
    assert all(s in (200, 201, 503) for s in statuses), sorted(set(statuses))
    assert max(o.response.elapsed for o in outcomes) < MAX_FAULT_SECONDS
    assert ready_in_cut.status == 503
    assert ready_in_cut.body["code"] == "service_unavailable"
    assert ready_in_cut.elapsed < MAX_FAULT_SECONDS
    assert health_in_cut.status == 200

    # The same worker processes serve again, without a restart.
    after = [server.call("GET", "/api/v1/users/me", headers=headers) for _ in range(6)]
    assert [r.status for r in after] == [200] * 6
    assert server.register("after-the-cut").status == 201
    assert server.process.poll() is None
    assert server.workers() == workers

    # No lost or half-written registrations: every 201 is there and complete.
    users = _users(served_database)
    created = {
        o.label
        for o in outcomes
        if o.response.status == 201 and o.label not in ("me", "list", "create")
    }
    lost = created - users.keys()
    print(f"[db-fault {mode}] registrations 201={len(created)} rows lost={len(lost)}")
    assert not lost
    for username, key, password_hash, public_id, created_at, active in users.values():
        assert key == username.lower()
        assert password_hash.startswith("$argon2id$")
        assert public_id is not None and created_at is not None and active


def test_connection_dying_after_the_response_is_built_does_not_become_a_500(
    db_proxy, make_app
):
    proxy, proxied_url = db_proxy
    app = make_app(SQLALCHEMY_DATABASE_URI=proxied_url)

    @app.get("/_test/query-then-cut")
    def query_then_cut():
        db.session.execute(sa.text("SELECT 1"))  # the session now holds a connection
        proxy.cut(REFUSE)  # ...which dies before teardown's ROLLBACK
        return {"status": "done"}

    response = app.test_client().get("/_test/query-then-cut")

    assert response.status_code == 200
    proxy.restore()
    with app.app_context():
        assert db.session.execute(sa.text("SELECT 1")).scalar() == 1


def test_pooled_connections_the_server_ended_are_replaced_without_a_ping(
    backend, database_url, client, register, login
):
    if backend != "postgresql":
        pytest.skip("needs a server that can end a connection")
    register("survivor")
    headers = {"Authorization": f"Bearer {login('survivor')['access_token']}"}
    assert client.get("/api/v1/books", headers=headers).status_code == 200
    with psycopg.connect(_conninfo(database_url), autocommit=True) as admin:
        ended = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
        deadline = time.monotonic() + 10
        while admin.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()[0]:
            assert time.monotonic() < deadline
            time.sleep(0.05)

    statuses = [
        client.get("/api/v1/books", headers=headers).status_code for _ in range(3)
    ]

    assert ended, "the app held a pooled connection"
    assert statuses == [200, 200, 200]
