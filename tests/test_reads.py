"""bookstore/reads.py runs compiled statements on the DBAPI connection: held to
SQLAlchemy's own execution of the same statements (rows, their types and
field names, the SQL sent), and to the pool (one connection kept per thread for
reads, replaced when it dies or ages, given back when its thread ends or the
engine is disposed; none goes back to the pool in autocommit)."""

import gc
import sqlite3
import threading
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bookstore import reads
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


def test_a_failed_read_leaves_its_connection_usable(app, caller, backend):
    if backend == "sqlite":  # LIMIT -1 is "no limit" there
        pytest.skip("PostgreSQL refuses a negative LIMIT")
    guarded = listing._UNFILTERED_PAGE["title"]
    with app.app_context():
        engine = direct_engine()
        read = Read(guarded.plain)
        params = {"owner_id": caller["user_id"], "limit": -1, "offset": 0}
        held = reads.read_connection(engine).dbapi_connection

        with pytest.raises(sa.exc.DBAPIError):
            read.rows(engine, params)

        assert read.rows(engine, {**params, "limit": 1}) == []
        assert reads.read_connection(engine).dbapi_connection is held
        assert engine.pool.checkedout() == 1
        with engine.connect() as connection:
            assert connection.connection.dbapi_connection.autocommit is False


def test_reads_share_one_connection_which_dispose_closes(app, caller, backend):
    with app.app_context():
        engine = direct_engine()
        read = Read(SESSION.statement)
        with Checkouts(engine) as checkouts:
            for _ in range(3):
                assert len(read.rows(engine, caller)) == 1
        held = reads.read_connection(engine).dbapi_connection

        assert checkouts.count == 1
        assert engine.pool.checkedout() == 1
        with engine.connect() as connection:  # the Session's: another, no autocommit
            raw = connection.connection.dbapi_connection
            assert raw is not held
            assert getattr(raw, "autocommit", False) in (False, "DEPRECATED_DEFAULT")
            assert connection.execute(sa.select(1)).scalar() == 1
        engine.dispose()
        assert engine.pool.checkedout() == 0
        if backend == "postgresql":
            assert held.closed
        else:
            with pytest.raises(sqlite3.ProgrammingError):  # closed
                held.execute("SELECT 1")
        assert len(read.rows(engine, caller)) == 1  # a new one, from the new pool
        assert reads.read_connection(engine).dbapi_connection is not held


@pytest.mark.parametrize("pool_size", [None, 1])
def test_no_connection_goes_back_to_the_pool_in_autocommit(
    make_app, backend, pool_size
):
    # A create's one statement and the reads run in autocommit, on the thread's
    # kept connection (default pool: given back when the thread ends) or on one
    # lent per request (a pool of one): extensions._leave_autocommit turns
    # autocommit off whenever one goes back to the pool.
    if backend != "postgresql":
        pytest.skip("psycopg's autocommit")
    app = make_app(**({"DB_POOL_SIZE": pool_size} if pool_size else {}))
    client = app.test_client()
    body = {"username": "alice", "password": "correct horse battery staple"}
    assert client.post("/api/v1/auth/register", json=body).status_code == 201
    token = client.post("/api/v1/auth/login", json=body).json["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    answers = []

    def work():
        answers.append(client.post(API_BOOKS, json=BOOK, headers=headers).status_code)
        answers.append(client.get(API_BOOKS, headers=headers).status_code)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    del thread
    gc.collect()

    assert answers == [201, 200]
    with app.app_context():
        engine = db.engine
    idle = engine.pool.checkedin()
    taken = [engine.raw_connection() for _ in range(idle)]
    try:
        assert idle >= 1 and engine.pool.checkedout() == idle
        assert [c.dbapi_connection.autocommit for c in taken] == [False] * idle
    finally:
        for connection in taken:
            connection.close()


def test_a_read_connection_goes_back_when_its_thread_ends(app, caller):
    with app.app_context():
        engine = direct_engine()
        read = Read(SESSION.statement)
        found = []

        def run():
            found.append(len(read.rows(engine, caller)))
            found.append(engine.pool.checkedout())

        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
        gc.collect()

        assert found == [1, 1]
        assert engine.pool.checkedout() == 0


def test_a_read_connection_goes_back_through_the_pool_once_it_has_aged(
    app, caller, monkeypatch
):
    # Given back and taken again: the pool's own pool_recycle (the same age)
    # then replaces it with a new connection.
    with app.app_context():
        engine = direct_engine()
        read = Read(SESSION.statement)
        read.rows(engine, caller)
        monkeypatch.setattr(reads, "POOL_RECYCLE", 0)
        with Checkouts(engine) as checkouts:
            assert len(read.rows(engine, caller)) == 1
            assert len(read.rows(engine, caller)) == 1

        assert checkouts.count == 2
        assert engine.pool.checkedout() == 1


def test_a_read_connection_left_in_a_transaction_is_replaced(app, caller, backend):
    with app.app_context():
        engine = direct_engine()
        read = Read(SESSION.statement)
        read.rows(engine, caller)
        first = reads.read_connection(engine).dbapi_connection
        if backend == "postgresql":
            first.autocommit = False
            first.execute("SELECT 1")  # a transaction begins
        else:
            first.execute("BEGIN")

        assert len(read.rows(engine, caller)) == 1

        assert reads.read_connection(engine).dbapi_connection is not first
        assert engine.pool.checkedout() == 1


def test_with_a_pool_of_one_each_read_takes_and_returns_it(make_app, caller, backend):
    if backend == "sqlite":
        pytest.skip("DB_POOL_SIZE sizes PostgreSQL's pool")
    app = make_app(DB_POOL_SIZE=1)  # the Session's would not stay pooled
    with app.app_context():
        engine = direct_engine()
        read = Read(SESSION.statement)
        with Checkouts(engine) as checkouts:
            for _ in range(2):
                assert len(read.rows(engine, caller)) == 1

        assert engine.pool.size() == 1
        assert checkouts.count == 2
        assert engine.pool.checkedout() == 0 and not reads.holds(engine)


def test_a_read_connection_inherited_from_a_parent_is_left_alone(
    app, caller, monkeypatch, backend
):
    with app.app_context():
        engine = direct_engine()
        read = Read(SESSION.statement)
        read.rows(engine, caller)
        parents = reads.read_connection(engine)
        monkeypatch.setattr(reads.os, "getpid", lambda: -1)  # as after a fork

        assert len(read.rows(engine, caller)) == 1
        mine = reads.read_connection(engine)

        assert mine.dbapi_connection is not parents.dbapi_connection
        if backend == "postgresql":  # the parent's socket: not closed, not used
            assert not parents.dbapi_connection.closed
        engine.dispose()  # still "the child": closes its own read connection
        assert mine.dbapi_connection is None
        parents.invalidate()


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

    def __enter__(self) -> "Checkouts":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


API_BOOKS = "/api/v1/books"
BOOK = {"title": "Dune", "author": "Frank Herbert", "publisher": "Ace", "price": "9.99"}


def _book_url(client, headers, path: str) -> str:
    """`path` under /api/v1, its {id} a book created now on the caller's shelf."""
    created = client.post("/api/v1/books", json=BOOK, headers=headers).json
    return "/api/v1" + path.format(id=created["id"])


@pytest.mark.parametrize("path", ["/books", "/books?sort=title", "/books/{id}"])
def test_an_authenticated_read_takes_no_connection_from_the_pool(
    app, client, auth_headers, path
):
    url = _book_url(client, auth_headers, path)
    assert client.get(url, headers=auth_headers).status_code == 200  # holds one
    with app.app_context():
        engine = db.engine
    with Checkouts(engine) as checkouts:
        response = client.get(url, headers=auth_headers)

    assert response.status_code == 200
    # The session check and the read: one statement on PostgreSQL, two on one
    # connection on SQLite (sessioncheck.Guarded), the thread's read connection.
    assert checkouts.count == 0
    with app.app_context():
        assert db.engine.pool.checkedout() == 1


@pytest.mark.parametrize("path", ["/books", "/books/{id}"])
def test_a_read_with_an_ended_session_is_refused_and_keeps_no_other_connection(
    app, client, auth_headers, path
):
    url = _book_url(client, auth_headers, path)
    assert client.post("/api/v1/auth/logout", headers=auth_headers).status_code == 204

    response = client.get(url, headers=auth_headers)

    assert response.status_code == 401
    assert response.json["code"] == "token_revoked"
    with app.app_context():
        assert db.engine.pool.checkedout() == 1  # the thread's read connection


def _postgresql_only(backend) -> None:
    if backend != "postgresql":
        pytest.skip("a server-side disconnect")


def _in_transaction(connection, backend) -> bool:
    dbapi_connection = connection.dbapi_connection
    if backend == "postgresql":
        return dbapi_connection.info.transaction_status != 0  # not IDLE
    return dbapi_connection.in_transaction


def test_a_create_runs_on_the_threads_read_connection(
    app, client, auth_headers, backend
):
    # PostgreSQL: its one statement in autocommit; SQLite: its BEGIN IMMEDIATE
    # transaction, committed before the connection is kept for the next read.
    assert client.get(API_BOOKS, headers=auth_headers).status_code == 200  # holds one
    with app.app_context():
        engine = db.engine
    held = reads.read_connection(engine)

    with Checkouts(engine) as checkouts:
        created = client.post(API_BOOKS, json=BOOK, headers=auth_headers)
        listed = client.get(API_BOOKS, headers=auth_headers)

    assert created.status_code == 201
    assert [book["id"] for book in listed.json["items"]] == [created.json["id"]]
    assert checkouts.count == 0  # no connection taken from the pool, none reset
    assert reads.read_connection(engine) is held  # committed: idle, kept
    assert not _in_transaction(held, backend)
    if backend == "postgresql":
        assert held.dbapi_connection.autocommit is True
    assert engine.pool.checkedout() == 1


def test_a_refused_create_leaves_the_read_connection_usable(
    app, client, auth_headers, backend
):
    book = BOOK | {"isbn": "9780441013593"}
    assert client.post(API_BOOKS, json=book, headers=auth_headers).status_code == 201
    with app.app_context():
        engine = db.engine
    held = reads.read_connection(engine)

    duplicate = client.post(API_BOOKS, json=book, headers=auth_headers)
    assert not _in_transaction(held, backend)  # rolled back (SQLite) or none
    other = client.post(API_BOOKS, json=BOOK, headers=auth_headers)

    assert duplicate.status_code == 409  # the unique (owner, isbn) constraint
    assert other.status_code == 201
    assert reads.read_connection(engine) is held
    listed = client.get(API_BOOKS, headers=auth_headers).json
    assert listed["total"] == 2


def test_a_create_after_the_server_ended_the_read_connection_reconnects(
    app, client, auth_headers, backend
):
    _postgresql_only(backend)
    assert client.get(API_BOOKS, headers=auth_headers).status_code == 200
    with app.app_context():
        engine = db.engine
        held = reads.read_connection(engine)
        pid = held.dbapi_connection.info.backend_pid
        with engine.connect() as other:
            other.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            other.commit()

    created = client.post(API_BOOKS, json=BOOK, headers=auth_headers)

    assert created.status_code == 201  # found dead before use, not after
    assert reads.read_connection(engine).dbapi_connection.info.backend_pid != pid
