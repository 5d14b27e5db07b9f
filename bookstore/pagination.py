"""Page/per_page query arguments, the list envelope, Link and X-Total-Count."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import sqlalchemy as sa
from flask import Response, current_app, request
from marshmallow import Schema, ValidationError, validate

from bookstore import memo
from bookstore.errors import InvalidQuery
from bookstore.extensions import db
from bookstore.fields import ASCIIInteger

MAX_PAGE = 10_000_000  # bounds OFFSET long before it could overflow anything
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20


class PageArgsSchema(Schema):
    """`page` and `per_page`; feature schemas subclass it with their own filters."""

    page = ASCIIInteger(load_default=1, validate=validate.Range(1, MAX_PAGE))
    per_page = ASCIIInteger(
        load_default=DEFAULT_PER_PAGE, validate=validate.Range(1, MAX_PER_PAGE)
    )


# (schema, raw query string) -> its loaded arguments. Loading is a pure function
# of the two, and clients repeat the same few query strings (page 1, default
# sort): validated once per worker, not per request. A malformed query string
# raises before anything is kept.
LOADED, LOADED_CACHE_SIZE = "pagination.loaded", 1024


def parse_args(schema: Schema) -> dict:
    """Load the query string with `schema`; malformed → 400 invalid_query."""
    key = (schema, request.query_string)  # keyed by identity; the key keeps it alive
    loaded_args = memo.cache(LOADED, LOADED_CACHE_SIZE)
    loaded = loaded_args.get(key)
    if loaded is None:
        loaded = _load_args(schema)
        # A cursor makes every query string of a walk unique: kept, they would
        # only push the repeated ones (page 1, the default sort) out.
        if not loaded.get("cursor"):
            loaded_args.remember(key, loaded)
    return dict(loaded)  # values are immutable (ints, strings, UUIDs, Decimals)


def _load_args(schema: Schema) -> dict:
    raw = {}
    for key in request.args:
        values = request.args.getlist(key)
        if len(values) > 1:
            raise InvalidQuery(
                "A query parameter was given more than once.",
                errors={key: ["Give this parameter once."]},
            )
        raw[key] = values[0]
    try:
        return schema.load(raw)
    except ValidationError as exc:
        raise InvalidQuery(
            "A query parameter is malformed.", errors=exc.messages
        ) from None


@dataclass
class Page:
    items: list
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return math.ceil(self.total / self.per_page) if self.total else 0

    def envelope(self, dump: Callable[[list], list]) -> dict:
        return {
            "items": dump(self.items),
            "page": self.page,
            "per_page": self.per_page,
            "total": self.total,
            "pages": self.pages,
        }

    def link_targets(self) -> dict[str, str]:
        """rel -> the paging arguments of that link, encoded."""
        last = max(self.pages, 1)
        targets = {"first": 1, "last": last}
        if self.page > 1:
            targets["prev"] = min(self.page - 1, last)
        if self.page < self.pages:
            targets["next"] = self.page + 1
        return {
            rel: f"page={targets[rel]}&per_page={self.per_page}"
            for rel in ("first", "prev", "next", "last")
            if rel in targets
        }


@dataclass
class CursorPage:
    """A page reached by cursor: no page numbers, the cursor of the next one."""

    items: list
    per_page: int
    total: int
    next_cursor: str | None

    def envelope(self, dump: Callable[[list], list]) -> dict:
        return {
            "items": dump(self.items),
            "per_page": self.per_page,
            "total": self.total,
            "next_cursor": self.next_cursor,
        }

    def link_targets(self) -> dict[str, str]:
        if self.next_cursor is None:
            return {}
        cursor = quote(self.next_cursor, safe="")
        return {"next": f"cursor={cursor}&per_page={self.per_page}"}


def count(statement: sa.Select) -> int:
    """How many rows `statement` selects (a count(*) over its FROM and WHERE)."""
    counting = statement.order_by(None).with_only_columns(
        sa.func.count(), maintain_column_froms=True
    )
    return db.session.scalar(counting)


def paginate(
    statement: sa.Select,
    *,
    page: int,
    per_page: int,
    total: int | None = None,
    rows: bool = False,
) -> Page:
    """Run `statement` (already ordered, with a unique tiebreak) for one page.

    `total`, when the caller already knows it (a maintained counter), saves the
    count(*), which is linear in the number of matching rows. Items are the
    first column's values (ORM objects), or whole rows when `rows` is true.
    """
    if total is None:
        total = count(statement)
    items = []
    if (page - 1) * per_page < total:  # past the end: an empty page, no query
        result = db.session.execute(
            statement.limit(per_page).offset((page - 1) * per_page)
        )
        items = list(result if rows else result.scalars())
    return Page(items=items, page=page, per_page=per_page, total=total)


def respond(page: Page | CursorPage, dump: Callable[[list], list]) -> Response:
    """The JSON envelope plus RFC 8288 Link and X-Total-Count headers."""
    body = current_app.json.dumps(page.envelope(dump))
    response = Response(body, mimetype="application/json")
    response.headers["X-Total-Count"] = str(page.total)
    # Per user, and stale the moment a book changes: revalidate, never share.
    response.headers["Cache-Control"] = "private, no-cache"
    links = _links(page)
    if links:
        response.headers["Link"] = ", ".join(links)
    return response


# Paging arguments: each link sets its own; every other argument is repeated.
_PAGING = ("page", "per_page", "cursor")


# (SCRIPT_NAME, PATH_INFO, QUERY_STRING) -> what every Link target of that
# request has before its paging arguments. A pure function of the three, as
# LOADED is of the query string, and as often repeated: built once per worker.
LINK_PREFIXES, LINK_PREFIXES_CACHE_SIZE = "pagination.link_prefixes", 1024


def _links(page: Page | CursorPage) -> list[str]:
    targets = page.link_targets()
    if not targets:
        return []
    environ = request.environ
    key = (
        environ.get("SCRIPT_NAME", ""),
        environ.get("PATH_INFO", ""),
        environ.get("QUERY_STRING", ""),
    )
    prefixes = memo.cache(LINK_PREFIXES, LINK_PREFIXES_CACHE_SIZE)
    prefix = prefixes.get(key)
    if prefix is None:
        prefix = prefixes.remember(key, _link_prefix())
    return [f'<{prefix}{paging}>; rel="{rel}"' for rel, paging in targets.items()]


def _link_prefix() -> str:
    # The other arguments (filters, sort) are the same in every link: encode once.
    args = urlencode([(k, v) for k, v in request.args.items() if k not in _PAGING])
    base = link_base()
    return f"{base}?{args}&" if args else f"{base}?"


def link_base() -> str:
    """Where a list's links point: `PUBLIC_URL` plus the path, else the path alone.

    Never built from the request's Host header, which the client chooses: a
    relative reference resolves against whatever URL the client really used.
    """
    path = quote(request.script_root + request.path)
    return current_app.config["PUBLIC_URL"] + path
