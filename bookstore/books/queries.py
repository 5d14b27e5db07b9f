"""How a listing selects and orders books: filters, sorts, keyset positions, search.

Builds SQL expressions only; bookstore.books.listing runs them.
"""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from bookstore.books.models import Book, fold
from bookstore.books.search import SEARCH_TABLE

_BOOKS = Book.__table__

# The one sort table: each name a listing may be sorted by (ascending, or
# descending with "-") and the column it orders by. BookQuerySchema's allowlist,
# and so the OpenAPI document's enum, are SORTS.
SORT_COLUMNS = {
    "title": _BOOKS.c.title_key,  # case-insensitive, the same on every database
    "author": _BOOKS.c.author_key,
    "price": _BOOKS.c.price_cents,
    "created_at": _BOOKS.c.created_at,
}
SORTS = (*SORT_COLUMNS, *(f"-{name}" for name in SORT_COLUMNS))
# The trigram index cannot answer a substring shorter than one trigram.
MIN_INDEXED_SEARCH = 3


def sort_column(sort: str) -> sa.Column:
    return SORT_COLUMNS[sort.removeprefix("-")]


def order(sort: str) -> tuple:
    column = sort_column(sort)
    if sort.startswith("-"):  # the id tiebreak runs in the same direction
        return column.desc(), _BOOKS.c.id.desc()
    return column.asc(), _BOOKS.c.id.asc()


def after(sort: str, value_param, id_param) -> sa.ColumnElement[bool]:
    """Rows strictly after the position (value, id) in `sort`'s order.

    A row-value comparison on the same columns, in the same order, as the
    (owner_id, <sort>, id) index: the database seeks to the position instead of
    counting past OFFSET rows, so every page costs what the first one does.
    """
    position = sa.tuple_(sort_column(sort), _BOOKS.c.id)
    bound = sa.tuple_(value_param, id_param)
    return position < bound if sort.startswith("-") else position > bound


def _escape_like(text: str) -> str:
    """Make %, _ and the escape character itself literal in a LIKE pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(q: str, dialect: str) -> sa.ColumnElement[bool]:
    """Books whose folded title or author contains the folded `q`.

    PostgreSQL answers the LIKE from its trigram indexes (pg_trgm). SQLite's
    LIKE scans, so there the FTS5 trigram table (kept by triggers) finds the
    candidates; a phrase of trigrams matches exactly the substrings, and one
    shorter than a trigram falls back to the scan.
    """
    needle = fold(q)
    if dialect == "sqlite" and len(needle) >= MIN_INDEXED_SEARCH:
        phrase = '"' + needle.replace('"', '""') + '"'  # FTS5 string: quotes doubled
        # A CTE, materialized: a listing's page and its total both read the
        # hits, and the index is then searched once per request, not twice.
        hits = (
            sa.select(sa.column("rowid"))
            .select_from(sa.table(SEARCH_TABLE))
            .where(sa.text(f"{SEARCH_TABLE} MATCH :phrase").bindparams(phrase=phrase))
            .cte("search_hits")
            .prefix_with("MATERIALIZED")
        )
        return _BOOKS.c.id.in_(sa.select(hits.c.rowid))
    pattern = f"%{_escape_like(needle)}%"
    return sa.or_(
        _BOOKS.c.title_key.like(pattern, escape="\\"),
        _BOOKS.c.author_key.like(pattern, escape="\\"),
    )


def filters(
    dialect: str,
    *,
    author: str | None = None,
    publisher: str | None = None,
    q: str | None = None,
    min_price: Decimal | None = None,
    max_price: Decimal | None = None,
) -> list[sa.ColumnElement[bool]]:
    """The WHERE conditions of a listing's filters (none: the unfiltered listing)."""
    conditions = []
    if author is not None:
        conditions.append(_BOOKS.c.author_key == fold(author))
    if publisher is not None:
        conditions.append(_BOOKS.c.publisher_key == fold(publisher))
    if q is not None:
        conditions.append(search(q, dialect))
    if min_price is not None:
        conditions.append(_BOOKS.c.price_cents >= int(min_price.scaleb(2)))
    if max_price is not None:
        conditions.append(_BOOKS.c.price_cents <= int(max_price.scaleb(2)))
    return conditions
