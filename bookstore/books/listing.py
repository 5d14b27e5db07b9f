"""Listing books: one page per query, sorted, filtered, with its total."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa

from bookstore import pagination
from bookstore.auth.models import User
from bookstore.auth.sessioncheck import CALLER, Caller, Guarded, Viewer
from bookstore.books.models import Book, BookCount, fold
from bookstore.errors import Forbidden
from bookstore.extensions import db
from bookstore.sqltext import RFC3339, UUIDText

_BOOKS = Book.__table__


def _escape_like(text: str) -> str:
    """Make %, _ and the escape character itself literal in a LIKE pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _listed_owner(
    viewer: Caller | Viewer, owner: uuid.UUID | None
) -> tuple[object, str]:
    """Whose books a listing shows: the caller's, or for admins `owner`'s.

    Returns the owner's row id (CALLER: the caller's own; None: no such user)
    and public id.
    """
    if owner is None or owner == viewer.public_id:
        return CALLER, str(viewer.public_id)
    if not viewer.is_admin:
        # The same 403 whether or not that user exists: no existence oracle.
        raise Forbidden("Only administrators may list another user's books.")
    owner_id = db.session.scalar(sa.select(User.id).where(User.public_id == owner))
    return owner_id, str(owner)


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


_COUNTS = BookCount.__table__
# An owner's total: the sum of their counter slots (0 for no row).
_SHELF_TOTAL = sa.select(sa.func.coalesce(sa.func.sum(_COUNTS.c.books), 0)).where(
    _COUNTS.c.owner_id == sa.bindparam("owner_id")
)


# The unfiltered listing, one statement per sort, built once: the page and the
# owner's total from the trigger-kept counter (never a count(*) over the shelf)
# in one round trip, both read from the same snapshot.
# For the caller's own shelf the session check runs in the same statement.
_UNFILTERED_PAGE = {
    sort: Guarded(
        sa.select(*LISTED_COLUMNS, _SHELF_TOTAL.scalar_subquery().label("shelf_total"))
        .where(_BOOKS.c.owner_id == sa.bindparam("owner_id"))
        .order_by(*_order(sort))
        .limit(sa.bindparam("limit"))
        .offset(sa.bindparam("offset")),
        owner_param="owner_id",
    )
    for sort in SORTS
}


def list_books(
    viewer: Caller | Viewer,
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
        if owner_id is CALLER:
            owner_id = viewer.id
        statement = (
            sa.select(*LISTED_COLUMNS)
            .where(_BOOKS.c.owner_id == owner_id, *filters)
            .order_by(*_order(sort))
        )
        result = pagination.paginate(statement, page=page, per_page=per_page, rows=True)
    else:
        result = _unfiltered_page(viewer, owner_id, sort, page, per_page)
    return Shelf(result, owner_public_id)


def _unfiltered_page(
    viewer: Caller | Viewer, owner_id, sort: str, page: int, per_page: int
):
    rows = _UNFILTERED_PAGE[sort].rows(
        {"limit": per_page, "offset": (page - 1) * per_page}, owner=owner_id
    )
    # Past the end (or an empty shelf) no row carries the total: ask for it alone.
    if rows:
        total = rows[0].shelf_total
    else:
        if owner_id is CALLER:
            owner_id = viewer.id
        total = db.session.scalar(_SHELF_TOTAL, {"owner_id": owner_id})
    total = int(total)  # the sum is NUMERIC on PostgreSQL
    return pagination.Page(items=rows, page=page, per_page=per_page, total=total)
