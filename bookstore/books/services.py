"""Books use-cases: read, replace, update, delete; each write one transaction.
The create is in bookstore.books.creates, listings in bookstore.books.listing."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.datastructures import ETags

from bookstore.auth import sessioncheck
from bookstore.auth.identity import Caller
from bookstore.auth.models import User
from bookstore.auth.sessioncheck import Guarded, settle
from bookstore.books.creates import DUPLICATE_ISBN
from bookstore.books.models import Book
from bookstore.books.output import LISTED_COLUMNS
from bookstore.errors import Conflict, Forbidden, NotFound, PreconditionFailed
from bookstore.extensions import db

_BOOKS = Book.__table__
WRITE_ATTEMPTS = 3  # without If-Match a lost version race is retried (last write wins)


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
