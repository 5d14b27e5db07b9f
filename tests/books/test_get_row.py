"""`GET /books/{id}` reads a row, not an ORM Book: held to the ORM path.

The view renders the row with dump_books and book_etag; these tests compare
what it sends with BookSchema's dump and Book.etag of the same book loaded
through the ORM, on both databases.
"""

import uuid

import pytest
import sqlalchemy as sa

from bookstore.books.models import Book
from bookstore.books.schemas import BookSchema
from bookstore.extensions import db
from tests.books.conftest import BOOKS


def _orm(app, public_id: str) -> tuple[dict, str]:
    """The book as the ORM path renders it: BookSchema's body, Book.etag."""
    with app.app_context():
        book = db.session.scalar(
            sa.select(Book).where(Book.public_id == uuid.UUID(public_id))
        )
        return BookSchema().dump(book), book.etag


@pytest.mark.parametrize(
    "fields",
    [
        {"price": "0", "isbn": None},
        {"price": "0.05", "isbn": "0-441-01359-7"},
        {"price": "1000000", "isbn": "9780306406157", "title": " Ünïcödé 书 "},
        {"price": 7},
    ],
)
def test_a_get_is_the_orm_paths_body_and_etag(
    app, client, auth_headers, create_book, fields
):
    created = create_book(auth_headers, **fields)

    response = client.get(f"{BOOKS}/{created['id']}", headers=auth_headers)

    body, etag = _orm(app, created["id"])
    assert response.status_code == 200
    assert response.json == body == created
    assert response.headers["ETag"] == f'"{etag}"'
    assert response.headers["Cache-Control"] == "private, no-cache"
    assert response.mimetype == "application/json"


def test_after_a_change_the_get_follows_the_new_version(
    app, client, auth_headers, book
):
    before = client.get(f"{BOOKS}/{book['id']}", headers=auth_headers)
    patched = client.patch(
        f"{BOOKS}/{book['id']}", json={"title": "Dune Messiah"}, headers=auth_headers
    )
    assert patched.status_code == 200

    response = client.get(f"{BOOKS}/{book['id']}", headers=auth_headers)

    body, etag = _orm(app, book["id"])
    assert response.json == body == patched.json
    assert response.headers["ETag"] == f'"{etag}"' == patched.headers["ETag"]
    assert response.headers["ETag"] != before.headers["ETag"]


def test_an_admin_reading_another_users_book_sees_its_owner(
    app, client, auth_headers, admin_headers, book
):
    response = client.get(f"{BOOKS}/{book['id']}", headers=admin_headers)

    body, etag = _orm(app, book["id"])
    assert response.status_code == 200
    assert response.json == body
    assert response.json["owner_id"] == book["owner_id"]
    assert response.headers["ETag"] == f'"{etag}"'


def test_the_row_etag_revalidates_as_the_orm_one(app, client, auth_headers, book):
    _, etag = _orm(app, book["id"])

    response = client.get(
        f"{BOOKS}/{book['id']}",
        headers={**auth_headers, "If-None-Match": f'W/"{etag}"'},
    )

    assert response.status_code == 304
    assert response.headers["ETag"] == f'"{etag}"'
    assert response.data == b""
