"""bookstore/reads.py runs compiled statements on the DBAPI connection: held to
SQLAlchemy's own execution of the same statements (rows, their types and
field names, the SQL sent), and to the pool (every connection back, out of
autocommit)."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bookstore.auth.models import AuthSession, User
from bookstore.auth.pats import guard
from bookstore.auth.sessioncheck import SESSION
from bookstore.books import listing, services
from bookstore.books.models import Book, NewBook
from bookstore.extensions import db
from bookstore.reads import Read, direct_engine
from tests.auth.pats import mint

_BOOKS = Book.__table__
_COLUMNS = tuple(column.key for column in _BOOKS.columns if column.key != "id")

texts = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]),
    min_size=1,
    max_size=40,
)
moments = st.datetimes(
    min_value=datetime(1970, 1, 2),
    max_value=datetime(2200, 1, 1),
    timezones=st.just(UTC),
)
books = st.lists(
    st.fixed_dictionaries(
        {
            "title": texts,
            "author": texts,
            "publisher": texts,
            "price": st.integers(0, 100_000_000).map(lambda c: Decimal(c) / 100),
            "isbn": st.booleans(),  # None, or one unique on the shelf
            "created_at": moments,
            "updated_at": moments,
        }
    ),
    max_size=6,
)


def _shapes(rows) -> list:
    """Rows as (type, value) pairs: 1 == True would hide a lost processor."""
    return [[(type(value), value) for value in row] for row in rows]


def _reference(statement, params) -> tuple[list, list[str]]:
    sent = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        with db.engine.connect() as connection:
            rows = connection.execute(statement, params).all()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    return rows, sent


def _assert_same(statement, params) -> list:
    engine = direct_engine()
    assert engine is not None  # nothing listens: the direct path is taken
    read = Read(statement)

    direct = read.rows(engine, params)

    reference, sent = _reference(statement, params)
    assert _shapes(direct) == _shapes(reference)
    assert sent == [read.compiled(engine.dialect).sql]
    if reference:
        assert direct[0]._fields == reference[0]._fields
        for name in reference[0]._fields:
            assert getattr(direct[0], name) == getattr(reference[0], name)
    return direct


@pytest.fixture
def caller(app, client, auth_headers):
    """The logged-in user's ids, its session's, and a personal access token's digest."""
    token = mint(client, auth_headers)["token"]
    with app.app_context():
        user_id, sub = db.session.execute(sa.select(User.id, User.public_id)).one()
        sid = db.session.scalar(sa.select(AuthSession.public_id))
        digest = guard._digest(token)
    return {"user_id": user_id, "sub": sub, "sid": sid, "digest": digest}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    shelf=books, sort=st.sampled_from(sorted(listing._UNFILTERED_PAGE)), page=st.data()
)
def test_a_reads_rows_are_sqlalchemys(app, caller, shelf, sort, page):
    window = {
        "limit": page.draw(st.integers(1, 5)),
        "offset": page.draw(st.integers(0, 7)),
    }
    guarded = listing._UNFILTERED_PAGE[sort]
    with app.app_context():
        db.session.execute(sa.delete(_BOOKS))
        for number, fields in enumerate(shelf):
            fields["isbn"] = str(9780000000000 + number) if fields["isbn"] else None
            moments = {k: fields.pop(k) for k in ("created_at", "updated_at")}
            book = NewBook.of(caller["user_id"], moments["created_at"], **fields)
            values = {key: getattr(book, key) for key in _COLUMNS} | moments
            db.session.execute(_BOOKS.insert(), values)
        db.session.commit()
        db.session.remove()

        plain = _assert_same(guarded.plain, {**window, "owner_id": caller["user_id"]})
        with_session = _assert_same(
            guarded.combined(SESSION),
            {**window, "sid": caller["sid"], "sub": caller["sub"]},
        )
        with_token = _assert_same(
            guarded.combined(guard.PAT), {**window, "digest": caller["digest"]}
        )
        for public_id in [row.id for row in plain] + [str(uuid.uuid4())]:
            _assert_same(
                services._BOOK_BY_ID.combined(SESSION),
                {"book_id": uuid.UUID(public_id), **caller},
            )

    assert len(plain) == min(window["limit"], max(0, len(shelf) - window["offset"]))
    assert [row[:9] for row in with_session if row._position is not None] == [
        row[:9] for row in with_token if row._position is not None
    ]


@pytest.mark.parametrize("alive", [True, False])
def test_a_checks_rows_are_sqlalchemys_for_live_and_dead_credentials(
    app, caller, alive
):
    with app.app_context():
        if not alive:
            db.session.execute(
                sa.update(AuthSession).values(
                    revoked_at=datetime.now(UTC), expires_at=datetime(2000, 1, 1)
                )
            )
            db.session.commit()
            db.session.remove()

        session_rows = _assert_same(SESSION.statement, caller)
        token_rows = _assert_same(guard.PAT.statement, caller)
        _assert_same(SESSION.statement, {**caller, "sid": uuid.uuid4()})
        _assert_same(guard.PAT.statement, {**caller, "digest": "0" * 64})

    assert len(session_rows) == (1 if alive else 0)
    assert len(token_rows) == 1


def test_a_failed_read_gives_its_connection_back_out_of_autocommit(
    app, caller, backend
):
    if backend == "sqlite":  # LIMIT -1 is "no limit" there
        pytest.skip("PostgreSQL refuses a negative LIMIT")
    guarded = listing._UNFILTERED_PAGE["title"]
    with app.app_context():
        engine = direct_engine()
        read = Read(guarded.plain)
        params = {"owner_id": caller["user_id"], "limit": -1, "offset": 0}

        with pytest.raises(sa.exc.DBAPIError):
            read.rows(engine, params)

        assert engine.pool.checkedout() == 0
        with engine.connect() as connection:
            assert connection.connection.dbapi_connection.autocommit is False
        assert read.rows(engine, {**params, "limit": 1}) == []


def test_a_reads_connection_goes_back_to_the_pool_out_of_autocommit(app, caller):
    with app.app_context():
        engine = direct_engine()
        read = Read(SESSION.statement)

        for _ in range(3):
            assert len(read.rows(engine, caller)) == 1

        assert engine.pool.checkedout() == 0
        with engine.connect() as connection:
            raw = connection.connection.dbapi_connection
            assert getattr(raw, "autocommit", False) in (False, "DEPRECATED_DEFAULT")
            assert connection.execute(sa.select(1)).scalar() == 1


def test_a_listened_engine_keeps_sqlalchemys_execution(app):
    with app.app_context():
        sa.event.listen(db.engine, "after_cursor_execute", _ignore)
        try:
            listened = direct_engine()
        finally:
            sa.event.remove(db.engine, "after_cursor_execute", _ignore)
        begun = db.session.connection() and direct_engine()

    assert listened is None and begun is None


def _ignore(*args) -> None:
    return None


def test_the_session_check_reads_the_same_expiry_both_ways(app, caller):
    # A timestamp through SQLite's result processor, against the ORM's.
    with app.app_context():
        (row,) = Read(SESSION.statement).rows(direct_engine(), caller)
        expires = db.session.scalar(sa.select(AuthSession.expires_at))

    assert row.caller_session_expires_at == expires
    assert abs(expires.replace(tzinfo=UTC) - datetime.now(UTC)) < timedelta(days=400)


class Checkouts:
    """Connections taken from the app's pool while counting (the pool's own
    checkout event: what a direct read and the Session both go through)."""

    def __init__(self, engine) -> None:
        self.engine, self.count = engine, 0
        sa.event.listen(engine, "checkout", self._count)

    def _count(self, *_) -> None:
        self.count += 1

    def close(self) -> None:
        sa.event.remove(self.engine, "checkout", self._count)


BOOK = {"title": "Dune", "author": "Frank Herbert", "publisher": "Ace", "price": "9.99"}


def _book_url(client, headers, path: str) -> str:
    """`path` under /api/v1, its {id} a book created now on the caller's shelf."""
    created = client.post("/api/v1/books", json=BOOK, headers=headers).json
    return "/api/v1" + path.format(id=created["id"])


@pytest.mark.parametrize("path", ["/books", "/books?sort=title", "/books/{id}"])
def test_an_authenticated_read_takes_one_connection_from_the_pool(
    app, client, auth_headers, path
):
    url = _book_url(client, auth_headers, path)
    with app.app_context():
        checkouts = Checkouts(db.engine)
    try:
        response = client.get(url, headers=auth_headers)
    finally:
        checkouts.close()

    assert response.status_code == 200
    # The session check and the read: one statement on PostgreSQL, two on one
    # connection on SQLite (sessioncheck.Guarded).
    assert checkouts.count == 1
    with app.app_context():
        assert db.engine.pool.checkedout() == 0


@pytest.mark.parametrize("path", ["/books", "/books/{id}"])
def test_a_read_with_an_ended_session_is_refused_and_returns_its_connection(
    app, client, auth_headers, path
):
    url = _book_url(client, auth_headers, path)
    assert client.post("/api/v1/auth/logout", headers=auth_headers).status_code == 204

    response = client.get(url, headers=auth_headers)

    assert response.status_code == 401
    assert response.json["code"] == "token_revoked"
    with app.app_context():
        assert db.engine.pool.checkedout() == 0
