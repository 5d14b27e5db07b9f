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

from bookstore import clock, pagination
from bookstore.auth.models import User
from bookstore.auth.services import Caller
from bookstore.books.models import Book, BookCount, fold
from bookstore.errors import Conflict, Forbidden, NotFound, PreconditionFailed
from bookstore.extensions import db
from bookstore.sqltext import RFC3339, UUIDText
from bookstore.statements import prebuilt

DUPLICATE_ISBN = "You already have a book with this ISBN."
_BOOKS = Book.__table__
WRITE_ATTEMPTS = 3  # without If-Match a lost version race is retried (last write wins)


def create_book(owner: Caller, **fields) -> Book:
    """Create a book owned by `owner`; raise Conflict on a duplicate ISBN."""
    book = new_book(owner, fields)
    try:
        insert_book(book)
        db.session.commit()
    except IntegrityError:  # the (owner_id, isbn) unique constraint is the real guard
        db.session.rollback()
        raise Conflict(DUPLICATE_ISBN) from None
    return book


def new_book(owner: Caller, fields: dict) -> Book:
    """A Book with every column's value set here, ready to insert and render."""
    now = clock.utcnow()
    return Book(
        public_id=uuid.uuid4(),
        owner_id=owner.id,
        version=1,
        created_at=now,
        updated_at=now,
        **fields,
    )


_INSERTED = tuple(column.key for column in Book.__table__.columns if column.key != "id")


def insert_book(book: Book) -> None:
    """INSERT `book` in the session's transaction, as one Core statement.

    The unit of work (flush) was 40% of a create's CPU; a new book needs none
    of it: every value is already set (new_book), nothing is read back.
    """
    db.session.execute(_BOOKS.insert(), {key: getattr(book, key) for key in _INSERTED})


def get_visible_book(viewer: Caller, book_id: uuid.UUID) -> Book:
    """Return the book if `viewer` owns it or is an admin, else raise NotFound."""
    book = db.session.scalar(sa.select(Book).where(Book.public_id == book_id))
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


def _escape_like(text: str) -> str:
    """Make %, _ and the escape character itself literal in a LIKE pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _listed_owner(viewer: Caller, owner: uuid.UUID | None) -> tuple[int | None, str]:
    """Whose books a listing shows: the caller's, or for admins `owner`'s.

    Returns the owner's row id (None: no such user) and public id.
    """
    if owner is None or owner == viewer.public_id:
        return viewer.id, str(viewer.public_id)
    if not viewer.is_admin:
        # The same 403 whether or not that user exists: no existence oracle.
        raise Forbidden("Only administrators may list another user's books.")
    return db.session.scalar(sa.select(User.id).where(User.public_id == owner)), str(
        owner
    )


@dataclass(frozen=True)
class Shelf:
    """One page of a listing: rows with the book fields, and their owner's public id."""

    page: pagination.Page
    owner_public_id: str


# What a listing shows of a book, in the order dump_books reads it: rows, not ORM
# objects, with ids and timestamps already rendered as their JSON text.
LISTED_COLUMNS = (
    UUIDText(_BOOKS.c.public_id).label("id"),
    _BOOKS.c.title,
    _BOOKS.c.author,
    _BOOKS.c.publisher,
    _BOOKS.c.price_cents,
    _BOOKS.c.isbn,
    RFC3339(_BOOKS.c.created_at).label("created_at"),
    RFC3339(_BOOKS.c.updated_at).label("updated_at"),
)
SORT_COLUMNS = {
    "title": _BOOKS.c.title_key,  # case-insensitive, the same on every database
    "author": _BOOKS.c.author_key,
    "price": _BOOKS.c.price_cents,
    "created_at": _BOOKS.c.created_at,
}
SORTS = tuple(f"{prefix}{name}" for name in SORT_COLUMNS for prefix in ("", "-"))


def _order(sort: str) -> tuple:
    column = SORT_COLUMNS[sort.removeprefix("-")]
    if sort.startswith("-"):  # the id tiebreak runs in the same direction
        return column.desc(), _BOOKS.c.id.desc()
    return column.asc(), _BOOKS.c.id.asc()


def _shelf_total() -> sa.ScalarSelect:
    counts = BookCount.__table__
    return (
        sa.select(sa.func.coalesce(sa.func.sum(counts.c.books), 0))
        .where(counts.c.owner_id == sa.bindparam("owner_id"))
        .scalar_subquery()
    )


# The unfiltered listing, one statement per sort, built once: the page and the
# owner's total from the trigger-kept counter (never a count(*) over the shelf)
# in one round trip, both read from the same snapshot.
_UNFILTERED_PAGE = {
    sort: prebuilt(
        sa.select(*LISTED_COLUMNS, _shelf_total().label("shelf_total"))
        .where(_BOOKS.c.owner_id == sa.bindparam("owner_id"))
        .order_by(*_order(sort))
        .limit(sa.bindparam("limit"))
        .offset(sa.bindparam("offset"))
    )
    for sort in SORTS
}


def list_books(
    viewer: Caller,
    *,
    page: int = 1,
    per_page: int = pagination.DEFAULT_PER_PAGE,
    sort: str = "-created_at",
    owner: uuid.UUID | None = None,
    author: str | None = None,
    publisher: str | None = None,
    q: str | None = None,
    min_price: Decimal | None = None,
    max_price: Decimal | None = None,
) -> Shelf:
    """One page of the listing, sorted, with its total.

    Raises Forbidden when a non-admin asks for another user's books.
    """
    owner_id, owner_public_id = _listed_owner(viewer, owner)
    filters = []
    if author is not None:
        filters.append(_BOOKS.c.author_key == fold(author))
    if publisher is not None:
        filters.append(_BOOKS.c.publisher_key == fold(publisher))
    if q is not None:
        pattern = f"%{_escape_like(fold(q))}%"
        filters.append(
            sa.or_(
                _BOOKS.c.title_key.like(pattern, escape="\\"),
                _BOOKS.c.author_key.like(pattern, escape="\\"),
            )
        )
    if min_price is not None:
        filters.append(_BOOKS.c.price_cents >= int(min_price.scaleb(2)))
    if max_price is not None:
        filters.append(_BOOKS.c.price_cents <= int(max_price.scaleb(2)))
    if owner_id is None:  # an admin named a user who does not exist
        result = pagination.Page(items=[], page=page, per_page=per_page, total=0)
    elif filters:
        statement = (
            sa.select(*LISTED_COLUMNS)
            .where(_BOOKS.c.owner_id == owner_id, *filters)
            .order_by(*_order(sort))
        )
        result = pagination.paginate(statement, page=page, per_page=per_page, rows=True)
    else:
        result = _unfiltered_page(owner_id, sort, page, per_page)
    return Shelf(result, owner_public_id)


def _unfiltered_page(owner_id: int, sort: str, page: int, per_page: int):
    rows = (
        db.session.connection()
        .execute(
            _UNFILTERED_PAGE[sort],
            {"owner_id": owner_id, "limit": per_page, "offset": (page - 1) * per_page},
        )
        .all()
    )
    # Past the end (or an empty shelf) returns no row to carry the total; the sum
    # is NUMERIC on PostgreSQL.
    total = int(rows[0].shelf_total) if rows else _book_count(owner_id)
    return pagination.Page(items=rows, page=page, per_page=per_page, total=total)


def _book_count(owner_id: int) -> int:
    count = db.session.scalar(
        sa.select(sa.func.sum(BookCount.books)).where(BookCount.owner_id == owner_id)
    )
    return int(count or 0)
