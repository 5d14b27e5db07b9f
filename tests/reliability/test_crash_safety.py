import os
import signal
import time

import pytest
import sqlalchemy as sa

from tests.reliability.load import Load
from tests.reliability.servers import bearer

KILLS = 3


def _rows(url: str, sql: str) -> list[tuple]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(sql))]
    finally:
        engine.dispose()


@pytest.mark.slow
def test_sigkilled_workers_lose_no_acknowledged_write(served_database, gunicorn):
    server = gunicorn(DATABASE_URL=served_database)
    assert server.register("writer").status == 201
    headers = bearer(server.login("writer"))

    def step(thread: int, i: int):
        if i % 2 == 0:
            name = f"w{thread}-{i}"
            return name, server.register(name)
        title = f"book {thread}-{i}"
        book = {"title": title, "author": "A", "publisher": "P", "price": "12.34"}
        return title, server.call("POST", "/api/v1/books", book, headers, timeout=30)

    load = Load(step, threads=4, per_thread=40).start()
    killed = []
    try:
        for _ in range(KILLS):
            load.wait_for(len(load.outcomes) + 8)
            victim = server.workers()[0]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)
            deadline = time.monotonic() + 60  # the arbiter replaces the worker
            while victim in server.workers() or len(server.workers()) < 2:
                assert time.monotonic() < deadline, server.log_tail()
                time.sleep(0.1)
    finally:
        outcomes = load.stop()

    statuses = [o.response.status for o in outcomes]
    users = {
        r[0]: r
        for r in _rows(
            served_database,
            "SELECT username, password_hash, public_id, created_at FROM users",
        )
    }
    books = {
        r[0]: r
        for r in _rows(
            served_database,
            "SELECT title, author, publisher,"
            " price_cents, owner_id, public_id FROM books",
        )
    }
    acked_users = {
        o.label
        for o in outcomes
        if o.response.status == 201 and o.label.startswith("w")
    }
    acked_books = {
        o.label
        for o in outcomes
        if o.response.status == 201 and o.label.startswith("book")
    }
    lost = (acked_users - users.keys()) | (acked_books - books.keys())
    print(
        f"\n[crash] requests={len(outcomes)} killed={len(killed)} 2xx="
        f"{sum(200 <= s < 300 for s in statuses)} no_answer={statuses.count(0)} "
        f"5xx={sum(s >= 500 for s in statuses)} rows_lost={len(lost)}"
    )
    assert not lost
    assert all(s in (0, 201) for s in statuses), sorted(set(statuses))
    for _, password_hash, public_id, created_at in users.values():
        assert password_hash.startswith("$argon2id$") and public_id and created_at
    for _title, author, publisher, price_cents, owner_id, public_id in books.values():
        assert (author, publisher, price_cents) == ("A", "P", 1234)
        assert owner_id is not None and public_id is not None
    assert server.process.poll() is None
    assert server.call("GET", "/api/v1/users/me", headers=headers).status == 200
