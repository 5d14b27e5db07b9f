"""Creates racing for the last places on a shelf never pass MAX_BOOKS_PER_USER:
real gunicorn workers on SQLite and PostgreSQL."""

from collections import Counter

import pytest

from tests.reliability.servers import bearer, race

LIMIT, SENT = 5, 16
BOOK = {"title": "Dune", "author": "Frank Herbert", "publisher": "Chilton", "price": 9}


@pytest.mark.slow
def test_parallel_creates_fill_the_shelf_exactly_to_the_limit(
    gunicorn, served_database
):
    server = gunicorn(
        DATABASE_URL=served_database,
        GUNICORN_WORKERS="4",
        MAX_BOOKS_PER_USER=str(LIMIT),
    )
    server.register("filler")
    headers = bearer(server.login("filler"))

    responses = race(
        SENT,
        lambda i: server.call(
            "POST",
            "/api/v1/books",
            BOOK,
            {**headers, "Idempotency-Key": f"k{i}"} if i % 2 else headers,
        ),
    )

    statuses = Counter(r.status for r in responses)
    assert statuses == {201: LIMIT, 409: SENT - LIMIT}, server.log_tail()
    listed = server.call("GET", "/api/v1/books?per_page=100", headers=headers).body
    assert listed["total"] == len(listed["items"]) == LIMIT
