"""A book as it leaves: the columns a listing reads and the JSON object.

BookSchema (books/schemas.py) documents the object and stays its reference:
serialization through marshmallow was a third of a listing request's CPU, so
these build the same dicts directly, and tests/books/test_schemas.py holds them
to BookSchema's output on both databases.
"""

from __future__ import annotations

from operator import itemgetter

from bookstore.books.models import Book
from bookstore.clock import isoformat
from bookstore.sqltext import RFC3339, UUIDText

_BOOKS = Book.__table__

# What a listing shows of a book: rows, not ORM objects, with ids and
# timestamps already rendered as their JSON text. dump_books reads the columns
# by name, so a statement may add its own (totals, cursor positions) anywhere.
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


def _price(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def dump_book(book: Book, owner_id: str | None = None) -> dict:
    """The book object for one Book; `owner_id` saves loading the owner when
    the caller knows it."""
    return {
        "id": str(book.public_id),
        "title": book.title,
        "author": book.author,
        "publisher": book.publisher,
        "price": _price(book.price_cents),
        "isbn": book.isbn,
        "owner_id": owner_id or str(book.owner.public_id),
        "created_at": isoformat(book.created_at),
        "updated_at": isoformat(book.updated_at),
    }


# The columns dump_books reads, in the order it unpacks them.
_DUMPED = (
    "id",
    "title",
    "author",
    "publisher",
    "price_cents",
    "isbn",
    "created_at",
    "updated_at",
)


def dump_books(rows: list, owner_id: str) -> list[dict]:
    """A listing page of one owner's books, from rows with LISTED_COLUMNS.

    The columns are found by name once per page (the rows of a page share their
    keys), then read by position: `row.title` on every row cost four times as
    much (bench/README.md, "Reading a listing's rows by name").
    """
    if not rows:
        return []
    by_name = itemgetter(*map(rows[0]._fields.index, _DUMPED))
    return [
        {
            "id": public_id,
            "title": title,
            "author": author,
            "publisher": publisher,
            "price": _price(cents),
            "isbn": isbn,
            "owner_id": owner_id,
            "created_at": created_at,
            "updated_at": updated_at,
        }
        for (
            public_id,
            title,
            author,
            publisher,
            cents,
            isbn,
            created_at,
            updated_at,
        ) in map(by_name, rows)
    ]
