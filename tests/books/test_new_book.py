"""A create inserts a NewBook (plain values), not an ORM Book: held to Book.

Book's validators set the case-folded keys and its price setter the cents;
NewBook sets them itself. These tests compare the two for the same fields, and
what a create stores and answers with what the ORM reads back.
"""

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from bookstore.books.models import Book, NewBook
from bookstore.books.schemas import BookSchema
from bookstore.extensions import db
from tests.books.conftest import BOOKS, book_body

COLUMNS = [c.key for c in Book.__table__.columns if c.key != "id"]
FIELDS = [
    {"title": "Dune", "author": "Frank Herbert", "publisher": "Ace", "price": "0"},
    {
        "title": "STRASSE Straße ΐ",
        "author": "Émile Zola",
        "publisher": "ǅemal Ǆ",
        "price": "0.05",
        "isbn": "0-441-01359-7",
    },
    {"title": "x" * 200, "author": "ß" * 200, "publisher": "İ", "price": 1000000},
]


@pytest.mark.parametrize("body", FIELDS)
def test_a_new_book_has_the_values_an_orm_book_would(body):
    fields = BookSchema().load(body)
    now = datetime(2026, 12, 1, 3, 4, 5, 678901, tzinfo=UTC)

    new = NewBook.of(7, now, **fields)
    orm = Book(
        public_id=new.public_id,
        owner_id=7,
        version=1,
        created_at=now,
        updated_at=now,
        **fields,
    )

    assert {key: getattr(new, key) for key in COLUMNS} == {
        key: getattr(orm, key) for key in COLUMNS
    }
    assert new.etag == orm.etag


def test_a_new_book_takes_only_the_schemas_fields():
    fields = BookSchema().load(book_body())

    with pytest.raises(TypeError):
        NewBook.of(7, datetime.now(UTC), **fields, owner_id=8)


@pytest.mark.parametrize("body", FIELDS)
def test_a_create_stores_and_answers_what_the_orm_reads_back(
    app, client, auth_headers, body
):
    response = client.post(BOOKS, json=body, headers=auth_headers)
    assert response.status_code == 201, response.json

    with app.app_context():
        stored = db.session.scalar(
            sa.select(Book).where(Book.public_id == uuid.UUID(response.json["id"]))
        )
        fields = BookSchema().load(body)
        expected = Book(**fields)  # the keys and cents as the ORM derives them
        assert (stored.title_key, stored.author_key, stored.publisher_key) == (
            expected.title_key,
            expected.author_key,
            expected.publisher_key,
        )
        assert stored.price == fields["price"] == Decimal(stored.price_cents) / 100
        assert stored.version == 1 and stored.created_at == stored.updated_at
        assert response.json == BookSchema().dump(stored)
        assert response.headers["ETag"] == f'"{stored.etag}"'
        assert response.headers["Location"].endswith(f"{BOOKS}/{stored.public_id}")
