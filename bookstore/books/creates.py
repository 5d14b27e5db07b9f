"""The create use-case: `POST /books`, one transaction (one statement on
PostgreSQL), with or without an Idempotency-Key."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from bookstore import clock, reads
from bookstore.auth import sessioncheck
from bookstore.auth.identity import Caller
from bookstore.auth.models import AuthSession
from bookstore.auth.sessioncheck import settle
from bookstore.books import direct
from bookstore.books.idempotency import KeyedRequest, StoredResponse, fingerprint
from bookstore.books.models import SHELF_TOTAL, Book, BookCount, NewBook
from bookstore.errors import Conflict
from bookstore.extensions import db
from bookstore.locks import lock_user, sqlite_writer

DUPLICATE_ISBN = "You already have a book with this ISBN."
_BOOKS = Book.__table__


def create_book(
    body: dict,
    *,
    load: Callable[[dict], dict],
    render: Callable[[NewBook], StoredResponse],
    idempotency_key: str | None = None,
) -> StoredResponse:
    """Create a book on the caller's shelf from a request body: `load` turns
    the body into fields (or raises marshmallow's ValidationError), `render` the
    new book into the 201. The caller's session check may still be pending.

    With `idempotency_key`, a request already answered under that key gets the
    same answer again, marked replayed, and creates nothing; a new one stores
    its answer under the key in the book's transaction. Raises Conflict (a
    duplicate ISBN, a full shelf), ValidationFailed (the key used with another
    body) and the session check's TokenRevoked or TokenExpired.
    """
    keyed = None
    if idempotency_key is not None:  # before `load`: a retry is answered as before
        keyed = KeyedRequest(settle().user, idempotency_key, fingerprint(body))
        replayed = keyed.replay()
        if replayed is not None:
            return replayed
    fields = load(body)
    try:
        if keyed is None and (book := _insert_directly(fields)) is not None:
            return render(book)
        return _insert_in_transaction(fields, render, keyed)
    except IntegrityError:  # the unique constraints are the real guards
        db.session.rollback()
        settle()  # after a one-statement INSERT: its check found the session
        # (user_id, key): a concurrent request with the same key committed first.
        replayed = keyed.replay() if keyed is not None else None
        if replayed is None:  # (owner_id, isbn)
            raise Conflict(DUPLICATE_ISBN) from None
        return replayed


def _insert_in_transaction(
    fields: dict,
    render: Callable[[NewBook], StoredResponse],
    keyed: KeyedRequest | None,
) -> StoredResponse:
    """The create as one transaction: the shelf counted under the owner's lock
    (insert_book), the INSERT and, with `keyed`, the key's record."""
    owner = settle().user
    if keyed is not None:
        keyed.free_expired()
    book = new_book(owner, fields)
    insert_book(book)
    response = render(book)
    if keyed is not None:
        keyed.record(response)
    db.session.commit()
    return response


def new_book(owner: Caller | None, fields: dict) -> NewBook:
    """A book with every column's value set here, ready to insert and render
    (the owner's id later when the INSERT takes it from the session check)."""
    return NewBook.of(owner.id if owner is not None else None, clock.utcnow(), **fields)


_INSERTED = tuple(column.key for column in Book.__table__.columns if column.key != "id")
# Every value given (new_book): no column default runs, on either path.
_INSERT = _BOOKS.insert().values(
    {key: sa.bindparam(key, type_=_BOOKS.c[key].type) for key in _INSERTED}
)


def insert_book(book: NewBook) -> None:
    """INSERT `book` in the session's transaction, as one Core statement; raise
    Conflict when the owner already has MAX_BOOKS_PER_USER books.

    The unit of work (flush) was 40% of a create's CPU; a new book needs none
    of it: every value is already set (new_book), nothing is read back.
    """
    _check_room(book.owner_id)
    db.session.execute(_INSERT, {key: getattr(book, key) for key in _INSERTED})


def _check_room(owner_id: int) -> None:
    """Raise Conflict if the owner's shelf is full.

    The owner is locked before the counter is read, so two creates racing for
    the last place are serialized: the second reads the first's book.
    """
    lock_user(owner_id)
    limit = current_app.config["MAX_BOOKS_PER_USER"]
    if db.session.scalar(SHELF_TOTAL, {"owner_id": owner_id}) >= limit:
        db.session.rollback()
        raise _shelf_full(limit)


def _shelf_full(limit: int) -> Conflict:
    return Conflict(
        f"Your shelf is full: at most {limit} books per user. Delete some to "
        "add others."
    )


# The caller's create on PostgreSQL, one statement in autocommit: the session
# check (expiry included) and an INSERT of its row only if the check found one.
_CHECK = sessioncheck.SESSION_CHECK.where(
    AuthSession.__table__.c.expires_at > sa.bindparam("now")
).cte("caller")
_COUNTS = BookCount.__table__
# Only while the shelf is far from full: the statement takes no lock, so it
# inserts only when even ROOM_MARGIN creates in flight at once could not pass
# MAX_BOOKS_PER_USER; nearer the cap, the locked path (insert_book) decides.
ROOM_MARGIN = 1000
_HAS_ROOM = sa.select(sa.func.coalesce(sa.func.sum(_COUNTS.c.books), 0)).where(
    _COUNTS.c.owner_id == _CHECK.c.caller_id
).scalar_subquery() < sa.bindparam("room_below")
_CREATED = (
    _BOOKS.insert()
    .from_select(
        list(_INSERTED),
        sa.select(
            *(
                _CHECK.c.caller_id
                if key == "owner_id"
                else sa.bindparam(key, type_=_BOOKS.c[key].type)
                for key in _INSERTED
            )
        ).where(_HAS_ROOM),
    )
    .returning(_BOOKS.c.id)
    .cte("created")
)
_CREATE_CHECKED = sa.select(
    _CHECK,
    sa.select(sa.func.count()).select_from(_CREATED).scalar_subquery().label("n"),
)


def _insert_directly(fields: dict) -> NewBook | None:
    """The create without the Session while the caller's check is pending, on
    the DBAPI connection the thread keeps for its reads: on PostgreSQL a login
    session's check and the INSERT as one statement in autocommit, one round
    trip (reads.on_read_connection); on SQLite any check, the room count and
    the INSERT in one BEGIN IMMEDIATE transaction (books.direct; the
    database's write lock: insert_book's lock_user).

    None when that does not apply (PostgreSQL: a personal access token, or the
    shelf near its cap; the locked path then counts exactly). Raises
    TokenRevoked or TokenExpired (nothing is inserted), Conflict (SQLite: a
    full shelf), IntegrityError (a duplicate ISBN; the check found the session).
    """
    check = sessioncheck.pending()
    if check is None:
        return None
    engine = db.engine
    dialect = engine.dialect.name
    if dialect == "sqlite":
        return _insert_on_sqlite(check, fields)
    if dialect != "postgresql" or check.kind is not sessioncheck.SESSION:
        return None
    book = new_book(None, fields)
    values = {key: getattr(book, key) for key in _INSERTED if key != "owner_id"}
    room_below = current_app.config["MAX_BOOKS_PER_USER"] - ROOM_MARGIN
    params = {**values, **check.params, "now": clock.utcnow(), "room_below": room_below}
    # One statement in autocommit: on the connection the thread keeps for its
    # reads (no checkout, reset or autocommit switch per create), or one lent.
    rows = reads.on_read_connection(
        engine, reads.compiled(_CREATE_CHECKED, engine.dialect).run, params
    )
    row = rows[0] if rows else None
    if row is None:  # nothing inserted; the check alone tells revoked from expired
        settle()
    caller = sessioncheck.settled_by(row).user
    if not row.n:  # the shelf is near its cap
        return None
    book.owner_id = caller.id
    return book


def _insert_on_sqlite(check: sessioncheck.Pending, fields: dict) -> NewBook:
    """The create on SQLite: check, room and INSERT as insert_book's
    transaction does them, on the DBAPI connection, queued behind this host's
    other SQLite writers (locks.sqlite_writer) rather than polling for the lock.

    The wait at the gate counts against the busy timeout (the timeout less the
    wait, at least 0: BEGIN IMMEDIATE then tries once), so a write held up by
    a lock taken outside the gate still answers 503 after
    DATABASE_STATEMENT_TIMEOUT in all.
    """
    engine = db.engine
    with sqlite_writer(engine) as waited:
        # On the thread's read connection (or one lent for it): the transaction
        # ends before this returns.
        return reads.on_read_connection(
            engine, _insert_within_timeout, engine, check, fields, waited
        )


def _insert_within_timeout(
    fairy, engine: sa.Engine, check: sessioncheck.Pending, fields: dict, waited: float
) -> NewBook:
    connection = direct.Driver(engine, fairy)
    timeout = current_app.config["DATABASE_STATEMENT_TIMEOUT"]
    shortened = waited >= _NOTICEABLE_WAIT
    if shortened:
        _busy_timeout(connection, timeout - waited)
    try:
        return _insert_in_sqlite_transaction(connection, check, fields)
    finally:
        if shortened:
            _busy_timeout(connection, timeout)


_NOTICEABLE_WAIT = 0.01  # seconds: a shorter wait leaves the busy timeout as it is


def _busy_timeout(connection: direct.Driver, seconds: float) -> None:
    milliseconds = max(0, int(seconds * 1000))
    connection.fairy.dbapi_connection.execute(f"PRAGMA busy_timeout = {milliseconds}")


def _insert_in_sqlite_transaction(
    connection: direct.Driver, check: sessioncheck.Pending, fields: dict
) -> NewBook:
    connection.execute(_BEGIN_IMMEDIATE)
    try:
        row = connection.execute(check.kind.statement, check.params)
        owner = sessioncheck.settled_by(row).user
        limit = current_app.config["MAX_BOOKS_PER_USER"]
        (total,) = connection.execute(SHELF_TOTAL, {"owner_id": owner.id})
        if total >= limit:
            raise _shelf_full(limit)
        book = new_book(owner, fields)
        connection.execute(_INSERT, {key: getattr(book, key) for key in _INSERTED})
        connection.run("commit")
    except BaseException:
        connection.run("rollback")
        raise
    return book


_BEGIN_IMMEDIATE = sa.text("BEGIN IMMEDIATE")
