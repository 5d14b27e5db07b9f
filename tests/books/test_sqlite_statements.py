"""On SQLite a read request sends its SELECTs and nothing else.

SQLite runs in the worker, so what costs there is not round trips but
compiling SQL. A PRAGMA that changes a connection setting (SQLAlchemy's reset
after an autocommit read sends `PRAGMA read_uncommitted`) expires every
statement prepared on the connection, and each following read compiled its
SQL again: a quarter of a listing. This holds the reads to their SELECTs, as
tests/test_round_trips.py holds PostgreSQL's to one round trip.
"""

import pytest
import sqlalchemy as sa

from bookstore.extensions import db
from tests.books.conftest import BOOKS


@pytest.fixture
def traced(backend, app):
    """Every SQL statement SQLite runs on a connection the app opens from now."""
    if backend != "sqlite":
        pytest.skip("SQLite's own statement trace")
    statements: list[str] = []
    with app.app_context():
        db.engine.dispose()  # new connections only: each gets the trace
        sa.event.listen(
            db.engine,
            "connect",
            lambda dbapi, record: dbapi.set_trace_callback(statements.append),
        )
    return statements


def _sent(client, traced, path, headers) -> list[str]:
    for _ in range(3):  # warm-up: the connection is open, its statements cached
        assert client.get(path, headers=headers).status_code == 200
    traced.clear()
    assert client.get(path, headers=headers).status_code == 200
    return list(traced)


@pytest.mark.parametrize("read", ["list", "get"])
def test_a_read_request_sends_only_its_selects(
    client, auth_headers, create_book, traced, read
):
    book = create_book(auth_headers)
    path = BOOKS if read == "list" else f"{BOOKS}/{book['id']}"

    sent = _sent(client, traced, path, auth_headers)

    assert sent, "the trace saw nothing: it is not attached"
    assert all(s.lstrip().upper().startswith("SELECT") for s in sent), sent
