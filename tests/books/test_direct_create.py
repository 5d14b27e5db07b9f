"""A create runs on the DBAPI connection (books.direct), not the Session: held
to the Session's path (a create with an Idempotency-Key takes it) and to what
SQLAlchemy's own execution reads and raises."""

import uuid

import pytest
import sqlalchemy as sa

from bookstore.auth.sessioncheck import SESSION_CHECK
from bookstore.books import direct
from bookstore.books.models import SHELF_TOTAL, Book
from bookstore.extensions import db
from tests.auth.test_sessioncheck import _claims
from tests.books.conftest import BOOKS, book_body
from tests.conftest import bearer

BODIES = [
    book_body(),
    book_body(title="  STRASSE Straße ΐ ", author="Émile Zola", isbn="0-441-01359-7"),
    book_body(title="x" * 200, publisher="İ", price=1000000, isbn=None),
]
# Differ between any two creates.
OWN = {"id", "public_id", "created_at", "updated_at"}


def _stored(app, public_id: str) -> dict:
    with app.app_context():
        book = db.session.scalar(
            sa.select(Book).where(Book.public_id == uuid.UUID(public_id))
        )
        return {c.key: getattr(book, c.key) for c in Book.__table__.columns}


@pytest.mark.parametrize("body", BODIES)
def test_a_create_stores_and_answers_what_the_session_path_does(
    app, client, register, login, body
):
    register("alice")
    register("bob")
    direct_headers, session_headers = bearer(login("alice")), bearer(login("bob"))

    with app.app_context():
        engine = db.engine
    executed = []

    def count(connection, cursor, statement, *args):
        executed.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        fast = client.post(BOOKS, json=body, headers=direct_headers)
        through_sqlalchemy = len(executed)
        slow = client.post(
            BOOKS, json=body, headers={**session_headers, "Idempotency-Key": "k"}
        )
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)

    assert (fast.status_code, slow.status_code) == (201, 201)
    assert through_sqlalchemy == 0 < len(executed)  # each path was the one meant
    assert sorted(fast.headers.keys()) == sorted(
        k for k in slow.headers.keys() if k != "Idempotency-Key"
    )
    differing = OWN | {"owner_id"}
    assert {k: v for k, v in fast.json.items() if k not in differing} == {
        k: v for k, v in slow.json.items() if k not in differing
    }
    stored_fast = _stored(app, fast.json["id"])
    stored_slow = _stored(app, slow.json["id"])
    assert {k: v for k, v in stored_fast.items() if k not in differing} == {
        k: v for k, v in stored_slow.items() if k not in differing
    }
    assert stored_fast["created_at"] == stored_fast["updated_at"]
    assert fast.headers["Location"] == f"{BOOKS}/{fast.json['id']}"
    assert client.get(BOOKS, headers=direct_headers).json["total"] == 1


def test_the_driver_reads_what_the_session_reads(app, register, login):
    register("alice")
    claims = _claims(app, login("alice"))
    params = {"sid": uuid.UUID(claims["sid"]), "sub": uuid.UUID(claims["sub"])}

    with app.app_context():
        expected = db.session.execute(SESSION_CHECK, params).first()
        owner = {"owner_id": expected.caller_id}
        total = db.session.execute(SHELF_TOTAL, owner).first()
        with direct.driver() as connection:
            row = connection.execute(SESSION_CHECK, params)
            counted = connection.execute(SHELF_TOTAL, {"owner_id": row.caller_id})
            absent = connection.execute(SESSION_CHECK, {**params, "sid": uuid.uuid4()})

    assert row._fields == tuple(expected._fields)
    assert tuple(row) == tuple(expected)
    assert [type(v) for v in row] == [type(v) for v in expected]
    assert tuple(counted) == tuple(total)
    assert absent is None


def test_a_driver_error_is_raised_as_sqlalchemy_raises_it(app, register):
    register("alice")

    with app.app_context(), direct.driver() as connection:
        with pytest.raises(sa.exc.IntegrityError) as raised:
            connection.execute(
                sa.insert(Book).values(owner_id=sa.bindparam("owner")),
                {"owner": 1},
            )
        connection.run("rollback")
        after = connection.execute(SHELF_TOTAL, {"owner_id": 1})

    assert not raised.value.connection_invalidated
    assert after is not None  # the connection still works


def test_a_dead_connection_is_invalidated_as_sqlalchemy_does(app, backend):
    if backend != "postgresql":
        pytest.skip("a server-side disconnect")

    with app.app_context():
        with direct.driver() as connection:
            pid = connection.fairy.driver_connection.info.backend_pid
            with db.engine.connect() as other:
                other.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            with pytest.raises(sa.exc.OperationalError) as raised:
                connection.execute(SHELF_TOTAL, {"owner_id": 1})
        with direct.driver() as fresh:
            alive = fresh.execute(SHELF_TOTAL, {"owner_id": 1})

    assert raised.value.connection_invalidated
    assert alive is not None
