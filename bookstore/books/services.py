"""Books use-cases: create, read, list, replace, update, delete; each write one
transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.datastructures import ETags

from bookstore.auth.models import User
from bookstore.books.models import Book, BookCount, fold
from bookstore.errors import Conflict, Forbidden, NotFound, PreconditionFailed
from bookstore.extensions import db

DUPLICATE_ISBN = "You already have a book with this ISBN."
WRITE_ATTEMPTS = 3  # without If-Match a lost version race is retried (last write wins)
SORT_COLUMNS = {
    "title": Book.title_key,  # case-insensitive, the same on every database
    "author": Book.author_key,
    "price": Book.price_cents,
    "created_at": Book.created_at,
}


def create_book(owner: User, **fields) -> Book:
    """Create a book owned by `owner`; raise Conflict on a duplicate ISBN."""
    book = Book(owner=owner, **fields)
    db.session.add(book)
    try:
        db.session.commit()
    except IntegrityError:  # the (owner_id, isbn) unique constraint is the real guard
        db.session.rollback()
        raise Conflict(DUPLICATE_ISBN) from None
    return book


def get_visible_book(viewer: User, book_id: uuid.UUID) -> Book:
    """Return the book if `viewer` owns it or is an admin, else raise NotFound."""
    book = db.session.scalar(sa.select(Book).where(Book.public_id == book_id))
    if book is None or not (viewer.is_admin or book.owner_id == viewer.id):
        raise NotFound("Book not found.")  # same answer for "absent" and "not yours"
    return book


def _own_book(viewer: User, book_id: uuid.UUID) -> Book:
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
    viewer: User,
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
    viewer: User, book_id: uuid.UUID, fields: dict, *, if_match: ETags | None
) -> Book:
    """PUT: replace every field (a missing isbn clears it); raise as _write."""
    return _write(viewer, book_id, if_match, _assign({"isbn": None, **fields}))


def update_book(
    viewer: User, book_id: uuid.UUID, fields: dict, *, if_match: ETags | None
) -> Book:
    """PATCH: change the given fields only; raise as _write."""
    return _write(viewer, book_id, if_match, _assign(fields))


def delete_book(viewer: User, book_id: uuid.UUID, *, if_match: ETags | None) -> None:
    """DELETE: remove the book; raise as _write (NotFound once it is gone)."""
    _write(viewer, book_id, if_match, db.session.delete)


def _escape_like(text: str) -> str:
    """Make %, _ and the escape character itself literal in a LIKE pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _listed_owner(viewer: User, owner: uuid.UUID | None) -> int | None:
    """Whose books a listing shows: the caller's, or for admins `owner`'s."""
    if owner is None or owner == viewer.public_id:
        return viewer.id
    if not viewer.is_admin:
        # The same 403 whether or not that user exists: no existence oracle.
        raise Forbidden("Only administrators may list another user's books.")
    return db.session.scalar(sa.select(User.id).where(User.public_id == owner))


@dataclass(frozen=True)
class Listing:
    """A listing's ordered statement, and its total when known without counting."""

    statement: sa.Select
    total: int | None = None


def list_books(
    viewer: User,
    *,
    sort: str = "-created_at",
    owner: uuid.UUID | None = None,
    author: str | None = None,
    publisher: str | None = None,
    q: str | None = None,
    min_price: Decimal | None = None,
    max_price: Decimal | None = None,
) -> Listing:
    """The ordered statement for a listing (paginated by the caller).

    Raises Forbidden when a non-admin asks for another user's books.
    """
    owner_id = _listed_owner(viewer, owner)
    statement = sa.select(Book).where(Book.owner_id == owner_id)
    filters = []
    if author is not None:
        filters.append(Book.author_key == fold(author))
    if publisher is not None:
        filters.append(Book.publisher_key == fold(publisher))
    if q is not None:
        pattern = f"%{_escape_like(fold(q))}%"
        filters.append(
            sa.or_(
                Book.title_key.like(pattern, escape="\\"),
                Book.author_key.like(pattern, escape="\\"),
            )
        )
    if min_price is not None:
        filters.append(Book.price_cents >= int(min_price.scaleb(2)))
    if max_price is not None:
        filters.append(Book.price_cents <= int(max_price.scaleb(2)))
    column = SORT_COLUMNS[sort.removeprefix("-")]
    if sort.startswith("-"):  # the id tiebreak runs in the same direction
        order = (column.desc(), Book.id.desc())
    else:
        order = (column.asc(), Book.id.asc())
    statement = statement.where(*filters).order_by(*order)
    # Unfiltered: the trigger-kept counter, not a count(*) linear in the shelf.
    total = None if filters else _book_count(owner_id)
    return Listing(statement, total)


def _book_count(owner_id: int | None) -> int:
    count = db.session.scalar(
        sa.select(sa.func.sum(BookCount.books)).where(BookCount.owner_id == owner_id)
    )
    return int(count or 0)
