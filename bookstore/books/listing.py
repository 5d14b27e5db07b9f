"""Listing books: one page per query, sorted, filtered, with its total."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa

from bookstore import pagination
from bookstore.auth.identity import Caller
from bookstore.auth.models import User
from bookstore.auth.sessioncheck import CALLER, Guarded, Viewer, request_connection
from bookstore.books import cursors, queries
from bookstore.books.models import SHELF_TOTAL as _SHELF_TOTAL
from bookstore.books.models import Book
from bookstore.books.output import LISTED_COLUMNS
from bookstore.errors import Forbidden
from bookstore.extensions import UNPREPARED, db

_BOOKS = Book.__table__


def _listed_owner(
    viewer: Caller | Viewer, owner: uuid.UUID | None
) -> tuple[object, str | None]:
    """Whose books a listing shows: the caller's, or for admins `owner`'s.

    Returns the owner's row id (CALLER: the caller's own; None: no such user)
    and public id (None for the caller's own: a personal access token tells
    whose it is only once its check has run, in the read).
    """
    if owner is None or owner == viewer.public_id:
        return CALLER, None
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


# The unfiltered listing, one statement per sort, built once: the page and the
# owner's total from the trigger-kept counter (never a count(*) over the shelf)
# in one round trip, both read from the same snapshot.
# For the caller's own shelf the session check runs in the same statement.
_UNFILTERED_PAGE = {
    sort: Guarded(
        sa.select(*LISTED_COLUMNS, _SHELF_TOTAL.scalar_subquery().label("shelf_total"))
        .where(_BOOKS.c.owner_id == sa.bindparam("owner_id"))
        .order_by(*queries.order(sort))
        .limit(sa.bindparam("limit"))
        .offset(sa.bindparam("offset")),
        owner_param="owner_id",
    )
    for sort in queries.SORTS
}


# The unfiltered listing in cursor mode, per sort, from the start or after a
# position: the same page-and-total statement, seeking on the sort's index
# instead of skipping OFFSET rows, with the last row's position columns.
_UNFILTERED_CURSOR_PAGE = {
    (sort, started): (
        sa.select(
            *LISTED_COLUMNS,
            _SHELF_TOTAL.scalar_subquery().label("shelf_total"),
            *queries.position_columns(sort),
        )
        .where(_BOOKS.c.owner_id == sa.bindparam("owner_id"))
        .where(*((queries.after_position(sort),) if started else ()))
        .order_by(*queries.order(sort))
        .limit(sa.bindparam("limit"))
    )
    for sort in queries.SORTS
    for started in (False, True)
}


def list_books(
    viewer: Caller | Viewer,
    *,
    page: int = 1,
    per_page: int = pagination.DEFAULT_PER_PAGE,
    sort: str = "-created_at",
    owner: uuid.UUID | None = None,
    cursor: str | None = None,
    author: str | None = None,
    publisher: str | None = None,
    q: str | None = None,
    min_price: Decimal | None = None,
    max_price: Decimal | None = None,
) -> Shelf:
    """One page of the listing, sorted, with its total; by page number, or after
    `cursor` when one is given ("" starts).

    Raises Forbidden when a non-admin asks for another user's books, and
    InvalidQuery for a cursor that is not one of this listing's.
    """
    owner_id, owner_public_id = _listed_owner(viewer, owner)
    chosen = {
        "author": author,
        "publisher": publisher,
        "q": q,
        "min_price": min_price,
        "max_price": max_price,
    }
    filters = queries.chosen(_dialect(), **chosen)
    if owner_id is CALLER and (filters.shape or cursor is not None):
        owner_id = viewer.id  # only the unfiltered page carries the session check
    if cursor is not None:
        scope = {
            "viewer": str(viewer.public_id),
            "owner": owner_public_id or str(viewer.public_id),
            "sort": sort,
            **{name: str(value) for name, value in chosen.items() if value is not None},
        }
        result = _cursor_page(owner_id, sort, per_page, filters, cursor, scope)
    elif owner_id is None:  # an admin named a user who does not exist
        result = pagination.Page(items=[], page=page, per_page=per_page, total=0)
    elif filters.shape:
        window = {"limit": per_page, "offset": (page - 1) * per_page}
        rows, total = _filtered(owner_id, sort, filters, window)
        result = pagination.Page(items=rows, page=page, per_page=per_page, total=total)
    else:
        result = _unfiltered_page(viewer, owner_id, sort, page, per_page)
    return Shelf(result, owner_public_id or str(viewer.public_id))


def _filtered(
    owner_id: int,
    sort: str,
    filters: queries.Filters,
    window: dict,
    positioned: bool = False,
) -> tuple[list, int]:
    """One page of a filtered listing and the number of matches.

    `window` holds the page's `limit` and either its `offset` or the position
    (`after_value`, `after_id`) it starts after; `positioned` adds each row's
    position columns (cursor mode).
    """
    dialect, started = _dialect(), "after_id" in window
    statement = queries.filtered_page(dialect, sort, filters.shape, started, positioned)
    values = {"owner_id": owner_id, "offset": 0, **filters.values, **window}
    # A search's best plan depends on what it searches for (see UNPREPARED).
    options = UNPREPARED if filters.search is not None else {}
    rows = db.session.execute(statement, values, execution_options=options).all()
    if filters.search is not None:  # always a row: NULLs for an empty page
        return [row for row in rows if row.id is not None], rows[0].match_total
    if rows:
        return rows, rows[0].match_total
    # Past the end no row carries the total: count alone.
    return rows, db.session.scalar(queries.match_count(dialect, filters.shape), values)


def _cursor_page(
    owner_id: int | None,
    sort: str,
    per_page: int,
    filters: queries.Filters,
    cursor: str,
    scope: dict,
) -> pagination.CursorPage:
    """The page after `cursor`'s position; one row more than shown tells whether
    there is a next page."""
    position = None
    if cursor:
        position = cursors.open_(cursor, scope, timestamp=sort.endswith("created_at"))
    values = {"limit": per_page + 1}
    if position is not None:
        values.update(after_value=position.value, after_id=position.row_id)
    if owner_id is None:  # an admin named a user who does not exist
        rows, total = [], 0
    elif filters.shape:
        rows, total = _filtered(owner_id, sort, filters, values, positioned=True)
    else:
        statement = _UNFILTERED_CURSOR_PAGE[sort, position is not None]
        values["owner_id"] = owner_id
        rows = db.session.connection().execute(statement, values).all()
        total = _shelf_total(owner_id, rows)
    next_cursor = None
    if len(rows) > per_page:
        rows = rows[:per_page]
        last = rows[-1]
        next_cursor = cursors.seal(
            cursors.Position(last.sort_value, last.row_id), scope
        )
    return pagination.CursorPage(rows, per_page, total, next_cursor)


def _dialect() -> str:
    return db.engine.dialect.name


def _unfiltered_page(
    viewer: Caller | Viewer, owner_id, sort: str, page: int, per_page: int
):
    rows = _UNFILTERED_PAGE[sort].rows(
        {"limit": per_page, "offset": (page - 1) * per_page}, owner=owner_id
    )
    if owner_id is CALLER and not rows:
        owner_id = viewer.id  # settles the session check on its own
    total = _shelf_total(owner_id, rows)
    return pagination.Page(items=rows, page=page, per_page=per_page, total=total)


def _shelf_total(owner_id: int, rows: list) -> int:
    # Past the end (or an empty shelf) no row carries the total: ask for it alone.
    if rows:
        total = rows[0].shelf_total
    else:
        connection = request_connection()  # autocommit on PostgreSQL
        total = connection.scalar(_SHELF_TOTAL, {"owner_id": owner_id})
    return int(total)  # the sum is NUMERIC on PostgreSQL
