"""How a listing selects and orders books: filters, sorts, keyset positions, search.

Builds SQL expressions only; bookstore.books.listing runs them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from decimal import Decimal

import sqlalchemy as sa

from bookstore.books.models import Book, fold
from bookstore.books.output import LISTED_COLUMNS
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


def sort_column(sort: str, table: sa.FromClause = _BOOKS) -> sa.ColumnElement:
    """`sort`'s column, in `table` (books, or a selection of its columns)."""
    return table.c[SORT_COLUMNS[sort.removeprefix("-")].name]


def order(sort: str, table: sa.FromClause = _BOOKS) -> tuple:
    column = sort_column(sort, table)
    if sort.startswith("-"):  # the id tiebreak runs in the same direction
        return column.desc(), table.c.id.desc()
    return column.asc(), table.c.id.asc()


def after(
    sort: str, value_param, id_param, table: sa.FromClause = _BOOKS
) -> sa.ColumnElement[bool]:
    """Rows strictly after the position (value, id) in `sort`'s order.

    A row-value comparison on the same columns, in the same order, as the
    (owner_id, <sort>, id) index: the database seeks to the position instead of
    counting past OFFSET rows, so every page costs what the first one does.
    """
    position = sa.tuple_(sort_column(sort, table), table.c.id)
    bound = sa.tuple_(value_param, id_param)
    return position < bound if sort.startswith("-") else position > bound


def _escape_like(text: str) -> str:
    """Make %, _ and the escape character itself literal in a LIKE pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class Filters:
    """A listing's chosen filters: their shape and their values.

    `shape` names the chosen filters in a fixed order, `q` as "q:index" when
    the search index answers it, else "q:scan"; `values` holds the bind
    parameters of `conditions(shape, dialect)`. Statements built from a shape
    serve every request of that shape, whatever it searches for.
    """

    shape: tuple[str, ...] = ()
    values: dict = field(default_factory=dict)

    @property
    def search(self) -> str | None:
        """How `q` is answered ("q:index", "q:scan"), None without `q`."""
        return next((name for name in self.shape if name.startswith("q:")), None)


def chosen(
    dialect: str,
    *,
    author: str | None = None,
    publisher: str | None = None,
    q: str | None = None,
    min_price: Decimal | None = None,
    max_price: Decimal | None = None,
) -> Filters:
    """The listing's filters (an empty shape: the unfiltered listing)."""
    shape, values = [], {}
    if author is not None:
        shape.append("author")
        values["author_key"] = fold(author)
    if publisher is not None:
        shape.append("publisher")
        values["publisher_key"] = fold(publisher)
    if q is not None:
        needle = fold(q)
        search = "q:scan" if len(needle) < MIN_INDEXED_SEARCH else "q:index"
        shape.append(search)
        if dialect != "sqlite":
            values["pattern"] = f"%{_escape_like(needle)}%"
        elif search == "q:scan":
            values["needle"] = needle
        else:
            values["phrase"] = '"' + needle.replace('"', '""') + '"'  # FTS5 string
    if min_price is not None:
        shape.append("min_price")
        values["min_cents"] = int(min_price.scaleb(2))
    if max_price is not None:
        shape.append("max_price")
        values["max_cents"] = int(max_price.scaleb(2))
    return Filters(tuple(shape), values)


def conditions(shape: tuple[str, ...], dialect: str) -> tuple:
    """The WHERE conditions of a filter shape, on the bind parameters that
    `chosen` gives values to."""
    built = {
        "author": lambda: _BOOKS.c.author_key == sa.bindparam("author_key"),
        "publisher": lambda: _BOOKS.c.publisher_key == sa.bindparam("publisher_key"),
        "q:scan": lambda: _scan(dialect),
        "q:index": lambda: _indexed_search(dialect),
        "min_price": lambda: _BOOKS.c.price_cents >= sa.bindparam("min_cents"),
        "max_price": lambda: _BOOKS.c.price_cents <= sa.bindparam("max_cents"),
    }
    return tuple(built[name]() for name in shape)


def _scan(dialect: str) -> sa.ColumnElement[bool]:
    """Books whose folded title or author contains the folded `q`, compared
    row by row: a substring shorter than a trigram has no index to look up.

    On PostgreSQL this is the LIKE of `_indexed_search`: searches run
    unprepared, so each is planned with its pattern, and one without a trigram
    never reaches the trigram index (which would read all of it).
    """
    if dialect != "sqlite":
        return _indexed_search(dialect)
    needle = sa.bindparam("needle", type_=sa.String())
    return sa.or_(
        sa.func.instr(_BOOKS.c.title_key, needle) > 0,
        sa.func.instr(_BOOKS.c.author_key, needle) > 0,
    )


def _indexed_search(dialect: str) -> sa.ColumnElement[bool]:
    """Books whose folded title or author contains the folded `q`, found by the
    search index.

    PostgreSQL answers the LIKE from its trigram indexes (pg_trgm). SQLite's
    LIKE scans, so there the FTS5 trigram table (kept by triggers) finds the
    books; a phrase of trigrams matches exactly the substrings.
    """
    if dialect == "sqlite":
        hits = (
            sa.select(sa.column("rowid"))
            .select_from(sa.table(SEARCH_TABLE))
            .where(sa.text(f"{SEARCH_TABLE} MATCH :phrase"))
        )
        return _BOOKS.c.id.in_(hits)
    pattern = sa.bindparam("pattern", type_=sa.String())
    return sa.or_(
        _BOOKS.c.title_key.like(pattern, escape="\\"),
        _BOOKS.c.author_key.like(pattern, escape="\\"),
    )


def matches(sort: str, where: tuple, *, search: str, dialect: str) -> sa.CTE:
    """The books a searched listing shows, each with its sort value: a CTE of
    (id, <sort column>), materialized (the page and the total both read it)."""
    key = sort_column(sort)
    found = sa.select(_BOOKS.c.id, key).where(*where)
    if dialect == "sqlite" and search == "q:scan":
        # Asked for the sort value as well, SQLite's planner walks an owner
        # index without the keys and reads every book; the ids alone come from
        # the one index that holds both keys, and only the matches are read.
        ids = sa.select(_BOOKS.c.id).where(*where)
        found = sa.select(_BOOKS.c.id, key).where(_BOOKS.c.id.in_(ids))
    return found.cte("matches").prefix_with("MATERIALIZED")


def position_columns(sort: str) -> tuple:
    """The columns a cursor is made of: the row's sort value and id."""
    return sort_column(sort).label("sort_value"), _BOOKS.c.id.label("row_id")


def after_position(sort: str, table: sa.FromClause = _BOOKS) -> sa.ColumnElement[bool]:
    value_type = sort_column(sort).type
    return after(
        sort,
        sa.bindparam("after_value", type_=value_type),
        sa.bindparam("after_id", type_=sa.Integer()),
        table,
    )


@functools.cache  # one per sort and filter shape: a few hundred at most
def filtered_page(
    dialect: str, sort: str, shape: tuple, started: bool, positioned: bool
) -> sa.Select:
    """A filtered listing's page with the number of matches, in one statement
    (on SQLite, one search of the FTS index), on the bind parameters `chosen`
    gives values to, plus owner_id, limit, offset (and after_value, after_id
    when `started`)."""
    where = _where(dialect, shape)
    columns = position_columns(sort) if positioned else ()
    search = Filters(shape).search
    if search is not None:
        found = matches(sort, where, search=search, dialect=dialect)
        return _searched(sort, started, columns, found)
    total = sa.select(sa.func.count()).select_from(_BOOKS).where(*where)
    return _paged(
        sa.select(*LISTED_COLUMNS, total.scalar_subquery().label("match_total"))
        .add_columns(*columns)
        .where(*where),
        sort,
        _BOOKS,
        started,
    )


@functools.cache
def match_count(dialect: str, shape: tuple) -> sa.Select:
    return sa.select(sa.func.count()).select_from(_BOOKS).where(*_where(dialect, shape))


def _where(dialect: str, shape: tuple) -> tuple:
    owner = _BOOKS.c.owner_id == sa.bindparam("owner_id", type_=sa.Integer())
    return (owner, *conditions(shape, dialect))


def _searched(sort: str, started: bool, columns: tuple, found: sa.CTE) -> sa.Select:
    """A searched listing's page: the matches first, then the page from them.

    The index finds every match, and the total needs every match anyway; so
    the page is the first of the matches in the sort's order, not a walk along
    the sort's index testing each row until the page is full (which reads the
    whole shelf when the matches sit at its far end). Each match carries its
    sort value, so only the page's own rows are read again. The total leads
    the join: a page with no rows (no match, or past the end) is one row of
    NULLs that still carries it, and the matches are never searched twice.
    """
    page = _paged(
        sa.select(found.c.id, sort_column(sort, found)),
        sort,
        found,
        started,
    ).subquery("page")
    total = sa.select(sa.func.count().label("match_total")).select_from(found)
    total = total.subquery("total")
    return (
        sa.select(*LISTED_COLUMNS, total.c.match_total, *columns)
        .select_from(
            total.outerjoin(page, sa.true()).outerjoin(_BOOKS, _BOOKS.c.id == page.c.id)
        )
        .order_by(*order(sort, page))
    )


def _paged(statement: sa.Select, sort: str, table, started: bool) -> sa.Select:
    """`statement` in `sort`'s order over `table`'s columns, cut to the window."""
    if started:
        statement = statement.where(after_position(sort, table))
    return (
        statement.order_by(*order(sort, table))
        .limit(sa.bindparam("limit"))
        .offset(sa.bindparam("offset"))
    )
