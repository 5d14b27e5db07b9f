"""Every sort a client may ask for works: generated from the query schema's
allowlist, so a new entry in the sort table is covered without touching this file."""

from decimal import Decimal

import pytest
from marshmallow import validate

from bookstore.books.models import fold
from bookstore.books.queries import SORT_COLUMNS
from bookstore.books.schemas import BookQuerySchema
from tests.books.test_cursor import walk_cursor, walk_pages

ALLOWED = next(
    rule.choices
    for rule in BookQuerySchema().fields["sort"].validators
    if isinstance(rule, validate.OneOf)
)
BOOKS = [
    {"title": "b Dune", "author": "Herbert", "price": "9.99"},
    {"title": "a Emma", "author": "austen", "price": "4.50"},
    {"title": "C Ubik", "author": "Dick", "price": "12.00"},
    {"title": "a Emma", "author": "Austen", "price": "4.50"},  # ties: by id
    {"title": "d Solaris", "author": "Lem", "price": "7.25"},
]
# A filter and the books (indexes into BOOKS) it keeps.
FILTERS = {
    "": (0, 1, 2, 3, 4),
    "min_price=4.5&max_price=10": (0, 1, 3, 4),
    "author=AUSTEN": (1, 3),
    "q=emm": (1, 3),  # on SQLite through the trigram index
    "q=e&publisher=chilton%20books": (0, 1, 3, 4),  # shorter than a trigram: a scan
}


def _in_order(sort: str, created: list[dict], kept) -> list[str]:
    """The ids of the kept books in `sort`'s order, ties by id (here the
    creation order) in the same direction."""
    field = sort.removeprefix("-")

    def key(index: int):
        value = created[index][field]
        if field == "price":
            value = Decimal(value)
        elif field in ("title", "author"):
            value = fold(value)
        return value, index  # created_at is to the second: ties again

    ordered = sorted(kept, key=key, reverse=sort.startswith("-"))
    return [created[index]["id"] for index in ordered]


def test_the_allowlist_is_the_sort_table_in_both_directions():
    assert sorted(ALLOWED) == sorted(
        f"{prefix}{name}" for name in SORT_COLUMNS for prefix in ("", "-")
    )


def test_the_openapi_enum_is_the_allowlist(client):
    document = client.get("/api/v1/openapi.json").json
    parameters = document["paths"]["/api/v1/books"]["get"]["parameters"]

    sort = next(p for p in parameters if p["name"] == "sort")

    assert sort["schema"]["enum"] == list(ALLOWED)


@pytest.mark.parametrize("sort", ALLOWED)
def test_every_allowed_sort_answers_by_page_and_by_cursor_with_every_filter(
    client, user, auth_headers, admin_headers, shelf, sort
):
    created = shelf(BOOKS)
    callers = {
        "owner": (auth_headers, ""),
        "admin": (admin_headers, f"&owner={user['id']}"),
    }

    for who, (headers, owner) in callers.items():
        for query, kept in FILTERS.items():
            arguments = f"sort={sort}&{query}{owner}"
            expected = _in_order(sort, created, kept)

            assert walk_pages(client, headers, arguments) == expected, (who, query)
            assert walk_cursor(client, headers, arguments, 2) == expected, (who, query)
