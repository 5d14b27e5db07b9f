"""Books use-cases: create, read, replace, update, delete; each write one
transaction. Listings are in bookstore.books.listing."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.datastructures import ETags

from bookstore import clock
from bookstore.auth import sessioncheck
from bookstore.auth.identity import Caller
from bookstore.auth.models import AuthSession, User
from bookstore.auth.sessioncheck import Guarded, settle
from bookstore.books.idempotency import KeyedRequest, StoredResponse, fingerprint
from bookstore.books.models import SHELF_TOTAL, Book, BookCount, NewBook
from bookstore.books.output import LISTED_COLUMNS
from bookstore.errors import Conflict, Forbidden, NotFound, PreconditionFailed
from bookstore.extensions import db
from bookstore.locks import lock_user

DUPLICATE_ISBN = "You already have a book with this ISBN."
_BOOKS = Book.__table__
WRITE_ATTEMPTS = 3  # without If-Match a lost version race is retried (last write wins)


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
        if keyed is None and (book := _insert_in_one_statement(fields)) is not None:
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


def insert_book(book: NewBook) -> None:
    """INSERT `book` in the session's transaction, as one Core statement; raise
    Conflict when the owner already has MAX_BOOKS_PER_USER books.

    The unit of work (flush) was 40% of a create's CPU; a new book needs none
    of it: every value is already set (new_book), nothing is read back.
    """
    _check_room(book.owner_id)
    db.session.execute(_BOOKS.insert(), {key: getattr(book, key) for key in _INSERTED})


def _check_room(owner_id: int) -> None:
    """Raise Conflict if the owner's shelf is full.

    The owner is locked before the counter is read, so two creates racing for
    the last place are serialized: the second reads the first's book.
    """
    lock_user(owner_id)
    limit = current_app.config["MAX_BOOKS_PER_USER"]
    if db.session.scalar(SHELF_TOTAL, {"owner_id": owner_id}) >= limit:
        db.session.rollback()
        raise Conflict(
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


def _insert_in_one_statement(fields: dict) -> NewBook | None:
    """On PostgreSQL while the caller's session check is pending: the check and
    the INSERT as one statement in autocommit, one round trip.

    None when that does not apply (a personal access token, SQLite), or when
    the shelf is near its cap (the locked path then counts exactly). Raises
    TokenRevoked or TokenExpired (nothing is inserted), IntegrityError (a
    duplicate ISBN; the check found the session).
    """
    check = sessioncheck.pending()
    if (
        check is None
        or check.kind is not sessioncheck.SESSION
        or db.session.get_bind().dialect.name != "postgresql"
    ):
        return None
    connection = db.session.connection(
        execution_options={"isolation_level": "AUTOCOMMIT"}  # one statement
    )
    book = new_book(None, fields)
    values = {key: getattr(book, key) for key in _INSERTED if key != "owner_id"}
    room_below = current_app.config["MAX_BOOKS_PER_USER"] - ROOM_MARGIN
    row = connection.execute(
        _CREATE_CHECKED,
        {
            **values,
            **check.params,
            "now": clock.utcnow(),
            "room_below": room_below,
        },
    ).first()
    if row is None:  # nothing inserted; the check alone tells revoked from expired
        settle()
    caller = sessioncheck.settled_by(row).user
    if not row.n:  # the shelf is near its cap
        db.session.rollback()  # out of autocommit: the lock needs a transaction
        return None
    book.owner_id = caller.id
    return book


def get_visible_book(viewer: Caller, book_id: uuid.UUID) -> Book:
    """Return the book if `viewer` owns it or is an admin, else raise NotFound."""
    book = db.session.scalar(sa.select(Book).where(Book.public_id == book_id))
    return _visible(viewer, book)


# One book as GET shows it, as a row: the listing's columns (id and timestamps
# already as their JSON text), then what the view checks. Loading an ORM Book
# instead (instance state, identity map, every column) was a large share of a
# get's CPU (figures: bench/README.md). A test holds the response to the ORM
# path's (BookSchema, Book.etag).
_BOOK_BY_ID = Guarded(
    sa.select(*LISTED_COLUMNS, _BOOKS.c.owner_id, _BOOKS.c.version).where(
        _BOOKS.c.public_id == sa.bindparam("book_id")
    )
)


def read_visible_book(book_id: uuid.UUID) -> sa.Row:
    """get_visible_book for a read-only request, as a row of LISTED_COLUMNS,
    `owner_id` and `version`: the book and the caller's session check in one
    statement."""
    rows = _BOOK_BY_ID.rows({"book_id": book_id})
    return _visible(settle().user, rows[0] if rows else None)


def owner_public_id(book: Book | sa.Row) -> str:
    """The public id of `book`'s owner: the caller's, or (an admin reading
    someone else's book) read from the users table."""
    caller = settle().user
    if book.owner_id == caller.id:
        return str(caller.public_id)
    connection = sessioncheck.request_connection()  # autocommit on a GET
    return str(connection.scalar(_OWNER_PUBLIC_ID, {"owner_id": book.owner_id}))


_OWNER_PUBLIC_ID = sa.select(User.__table__.c.public_id).where(
    User.__table__.c.id == sa.bindparam("owner_id")
)


def _visible(viewer: Caller, book):
    """`book` (a Book or a row) if `viewer` may see it, else raise NotFound."""
    if book is None or not (viewer.is_admin or book.owner_id == viewer.id):
        raise NotFound("Book not found.")  # same answer for "absent" and "not yours"
    return book


def _own_book(viewer: Caller, book_id: uuid.UUID) -> Book:
    """The book if `viewer` may change it: its owner only.

    Admins may read anyone's book but not change it: they see it exists, so
    they get 403 rather than a 404 that would be a lie; everyone else 404.
    """
    book = get_visible_book(viewer, book_id)
    if book.owner_id != viewer.id:
        raise Forbidden("Administrators may read other users' books, not change them.")
    return book


def check_precondition(book: Book, if_match: ETags | None) -> None:
    """Raise PreconditionFailed unless If-Match (strong comparison) names `book`."""
    if if_match is not None and not if_match.contains(book.etag):
        raise PreconditionFailed(
            "The book has changed since you fetched it (If-Match does not match).",
            headers={"ETag": f'"{book.etag}"'},
        )


def _write(
    viewer: Caller,
    book_id: uuid.UUID,
    if_match: ETags | None,
    change: Callable[[Book], None],
) -> Book:
    """Load, check If-Match, change and commit, with the version as the guard.

    The UPDATE/DELETE is conditional on the version that was checked, so of two
    writers holding the same ETag exactly one matches a row; the other's
    StaleDataError is a 412 when it sent If-Match, else a fresh attempt.
    """
    for _ in range(WRITE_ATTEMPTS):
        book = _own_book(viewer, book_id)
        check_precondition(book, if_match)
        change(book)
        try:
            db.session.commit()
            return book
        except StaleDataError:
            db.session.rollback()
            if if_match is not None:
                raise PreconditionFailed(
                    "The book was changed by another request; fetch it again."
                ) from None
        except IntegrityError:
            db.session.rollback()
            raise Conflict(DUPLICATE_ISBN) from None
    raise Conflict("The book is being changed by other requests; try again.")


def _assign(fields: dict) -> Callable[[Book], None]:
    def change(book: Book) -> None:
        for name, value in fields.items():
            setattr(book, name, value)

    return change


def replace_book(
    viewer: Caller, book_id: uuid.UUID, fields: dict, *, if_match: ETags | None
) -> Book:
    """PUT: replace every field (a missing isbn clears it); raise as _write."""
    return _write(viewer, book_id, if_match, _assign({"isbn": None, **fields}))


def update_book(
    viewer: Caller, book_id: uuid.UUID, fields: dict, *, if_match: ETags | None
) -> Book:
    """PATCH: change the given fields only; raise as _write."""
    return _write(viewer, book_id, if_match, _assign(fields))


def delete_book(viewer: Caller, book_id: uuid.UUID, *, if_match: ETags | None) -> None:
    """DELETE: remove the book; raise as _write (NotFound once it is gone)."""
    _write(viewer, book_id, if_match, db.session.delete)
