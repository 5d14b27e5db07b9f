import uuid

import pytest

from tests.books.conftest import BOOKS, book_body


def test_create_returns_201_location_etag_and_the_book(client, auth_headers, user):
    response = client.post(
        BOOKS, json=book_body(isbn="0-441-01359-7", price=9.99), headers=auth_headers
    )

    assert response.status_code == 201
    book = response.json
    assert response.headers["Location"] == f"{BOOKS}/{book['id']}"
    assert response.headers["ETag"].startswith('"')
    assert book == {
        "id": book["id"],
        "title": "Dune",
        "author": "Frank Herbert",
        "publisher": "Chilton Books",
        "price": "9.99",
        "isbn": "9780441013593",
        "owner_id": user["id"],
        "created_at": book["created_at"],
        "updated_at": book["updated_at"],
    }
    assert uuid.UUID(book["id"])
    assert book["created_at"].endswith("Z")


def test_created_book_can_be_fetched_at_its_location(client, auth_headers):
    created = client.post(BOOKS, json=book_body(), headers=auth_headers)

    fetched = client.get(created.headers["Location"], headers=auth_headers)

    assert fetched.status_code == 200
    assert fetched.json == created.json
    assert fetched.headers["ETag"] == created.headers["ETag"]


def test_books_need_a_token(client, book):
    for method, path in [
        ("get", BOOKS),
        ("post", BOOKS),
        ("get", f"{BOOKS}/{book['id']}"),
        ("put", f"{BOOKS}/{book['id']}"),
        ("patch", f"{BOOKS}/{book['id']}"),
        ("delete", f"{BOOKS}/{book['id']}"),
    ]:
        response = getattr(client, method)(path, json=book_body())
        assert response.status_code == 401, (method, path)
        assert response.json["code"] == "missing_token"


def test_price_is_stored_as_exact_cents(app, client, auth_headers):
    from bookstore.books.models import Book
    from bookstore.extensions import db

    response = client.post(BOOKS, json=book_body(price="1000000"), headers=auth_headers)

    assert response.json["price"] == "1000000.00"
    with app.app_context():
        assert db.session.query(Book.price_cents).scalar() == 100_000_000


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", ""),
        ("title", "   "),
        ("title", "x" * 201),
        ("title", 42),
        ("title", None),
        ("title", "Du\x00ne"),  # PostgreSQL would refuse NUL: 422 on both
        ("author", "Frank\nHerbert"),
        ("publisher", "\x07"),
        ("title", "\ud800"),  # a lone surrogate from a JSON escape
        ("price", -1),
        ("price", "-0.01"),
        ("price", 1_000_000.01),
        ("price", "1000000.01"),
        ("price", 9.999),
        ("price", "9.999"),
        ("price", True),
        ("price", "9.99 EUR"),
        ("price", "1e2"),
        ("price", None),
        ("isbn", "9780441013594"),
        ("isbn", "not an isbn"),
        ("isbn", 9780441013593),
        ("isbn", ""),
    ],
)
def test_invalid_fields_are_422_with_the_field_named(
    client, auth_headers, field, value
):
    response = client.post(
        BOOKS, json=book_body(**{field: value}), headers=auth_headers
    )

    assert response.status_code == 422
    assert response.json["code"] == "validation_error"
    assert field in response.json["errors"]


def test_title_of_200_characters_after_trimming_is_accepted(client, auth_headers):
    title = "  " + "é" * 200 + "  "

    response = client.post(BOOKS, json=book_body(title=title), headers=auth_headers)

    assert response.status_code == 201
    assert response.json["title"] == "é" * 200


@pytest.mark.parametrize("missing", ["title", "author", "publisher", "price"])
def test_required_fields_missing_are_422(client, auth_headers, missing):
    response = client.post(
        BOOKS, json=book_body(**{missing: ...}), headers=auth_headers
    )

    assert response.status_code == 422
    assert response.json["errors"][missing] == ["Missing data for required field."]


@pytest.mark.parametrize(
    "extra",
    [{"owner_id": "x"}, {"id": str(uuid.uuid4())}, {"is_admin": True}, {"version": 9}],
)
def test_unknown_and_read_only_fields_are_422(client, auth_headers, extra):
    response = client.post(BOOKS, json={**book_body(), **extra}, headers=auth_headers)

    assert response.status_code == 422
    assert set(response.json["errors"]) == set(extra)


def test_nan_and_infinity_in_the_body_are_malformed_json(client, auth_headers):
    for literal in ("NaN", "Infinity", "-Infinity"):
        response = client.post(
            BOOKS,
            data=f'{{"title":"t","author":"a","publisher":"p","price":{literal}}}',
            headers={**auth_headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 400
        assert response.json["code"] == "malformed_json"


def test_a_body_that_is_not_an_object_is_400(client, auth_headers):
    response = client.post(BOOKS, json=[book_body()], headers=auth_headers)

    assert response.status_code == 400
    assert response.json["code"] == "malformed_json"


def test_a_body_that_is_not_json_is_415(client, auth_headers):
    response = client.post(BOOKS, data="title=Dune", headers=auth_headers)

    assert response.status_code == 415


def test_duplicate_isbn_for_the_same_owner_is_409(client, auth_headers, book):
    response = client.post(
        BOOKS, json=book_body(isbn="0441013597"), headers=auth_headers
    )

    assert response.status_code == 409
    assert response.json["code"] == "conflict"


def test_the_same_isbn_for_another_owner_is_fine(client, other_headers, book):
    response = client.post(
        BOOKS, json=book_body(isbn=book["isbn"]), headers=other_headers
    )

    assert response.status_code == 201


def test_books_without_isbn_do_not_conflict(client, auth_headers, create_book):
    create_book(auth_headers)
    create_book(auth_headers)


def test_get_unknown_book_is_404(client, auth_headers):
    response = client.get(f"{BOOKS}/{uuid.uuid4()}", headers=auth_headers)

    assert response.status_code == 404
    assert response.json["code"] == "not_found"


def test_a_malformed_book_id_is_404(client, auth_headers):
    for bad in ("1", "not-a-uuid", "9" * 40):
        assert client.get(f"{BOOKS}/{bad}", headers=auth_headers).status_code == 404


@pytest.mark.parametrize(
    ("method", "body"),
    [("get", None), ("put", book_body()), ("patch", {"title": "x"}), ("delete", None)],
)
def test_someone_elses_book_is_404_for_every_method(
    client, other_headers, book, method, body
):
    response = getattr(client, method)(
        f"{BOOKS}/{book['id']}", json=body, headers=other_headers
    )

    assert response.status_code == 404
    assert response.json["code"] == "not_found"
    assert response.json["detail"] == "Book not found."


def test_someone_elses_book_is_404_even_with_if_match(client, other_headers, book):
    response = client.delete(
        f"{BOOKS}/{book['id']}", headers={**other_headers, "If-Match": "*"}
    )

    assert response.status_code == 404


def test_admins_may_read_any_book(client, admin_headers, book):
    response = client.get(f"{BOOKS}/{book['id']}", headers=admin_headers)

    assert response.status_code == 200
    assert response.json == book


@pytest.mark.parametrize(
    ("method", "body"),
    [("put", book_body()), ("patch", {"title": "x"}), ("delete", None)],
)
def test_admins_may_not_change_someone_elses_book(
    client, admin_headers, auth_headers, book, method, body
):
    response = getattr(client, method)(
        f"{BOOKS}/{book['id']}", json=body, headers=admin_headers
    )

    assert response.status_code == 403
    assert response.json["code"] == "forbidden"
    assert client.get(f"{BOOKS}/{book['id']}", headers=auth_headers).json == book


def test_put_replaces_every_field_and_returns_a_new_etag(client, auth_headers, book):
    path = f"{BOOKS}/{book['id']}"
    old_etag = client.get(path, headers=auth_headers).headers["ETag"]
    body = {
        "title": "Children of Dune",
        "author": "F. Herbert",
        "publisher": "Putnam",
        "price": 12,
    }

    response = client.put(path, json=body, headers=auth_headers)

    assert response.status_code == 200
    assert response.headers["ETag"] != old_etag
    assert response.json | {"price": 12} == response.json | body
    assert response.json["price"] == "12.00"
    assert response.json["isbn"] is None  # absent in a full replace: cleared
    assert response.json["id"] == book["id"]
    assert response.json["created_at"] == book["created_at"]
    assert client.get(path, headers=auth_headers).json == response.json


@pytest.mark.parametrize("missing", ["title", "author", "publisher", "price"])
def test_put_needs_every_required_field(client, auth_headers, book, missing):
    response = client.put(
        f"{BOOKS}/{book['id']}", json=book_body(**{missing: ...}), headers=auth_headers
    )

    assert response.status_code == 422
    assert missing in response.json["errors"]


def test_patch_changes_only_the_given_fields(client, auth_headers, book):
    response = client.patch(
        f"{BOOKS}/{book['id']}", json={"price": "0"}, headers=auth_headers
    )

    assert response.status_code == 200
    assert response.json == {
        **book,
        "price": "0.00",
        "updated_at": response.json["updated_at"],
    }


def test_patch_can_clear_the_isbn_but_not_the_title(client, auth_headers, book):
    path = f"{BOOKS}/{book['id']}"

    cleared = client.patch(path, json={"isbn": None}, headers=auth_headers)
    refused = client.patch(path, json={"title": None}, headers=auth_headers)

    assert cleared.json["isbn"] is None
    assert refused.status_code == 422
    assert "title" in refused.json["errors"]


def test_patch_validates_like_post(client, auth_headers, book):
    response = client.patch(
        f"{BOOKS}/{book['id']}",
        json={"price": "1.001", "owner_id": "x"},
        headers=auth_headers,
    )

    assert response.status_code == 422
    assert set(response.json["errors"]) == {"price", "owner_id"}


def test_update_to_a_duplicate_isbn_is_409(client, auth_headers, book, create_book):
    second = create_book(auth_headers, isbn=None)

    response = client.patch(
        f"{BOOKS}/{second['id']}", json={"isbn": book["isbn"]}, headers=auth_headers
    )

    assert response.status_code == 409
    assert response.json["code"] == "conflict"


def test_delete_is_204_then_404(client, auth_headers, book):
    path = f"{BOOKS}/{book['id']}"

    first = client.delete(path, headers=auth_headers)
    again = client.delete(path, headers=auth_headers)

    assert first.status_code == 204
    assert first.data == b""
    assert again.status_code == 404
    assert client.get(path, headers=auth_headers).status_code == 404


def test_a_deleted_isbn_can_be_used_again(client, auth_headers, book):
    client.delete(f"{BOOKS}/{book['id']}", headers=auth_headers)

    response = client.post(
        BOOKS, json=book_body(isbn=book["isbn"]), headers=auth_headers
    )

    assert response.status_code == 201


def test_a_deleted_users_books_go_with_them(app, client, auth_headers, user, book):
    import sqlalchemy as sa

    from bookstore.auth.models import User
    from bookstore.books.models import Book
    from bookstore.extensions import db

    with app.app_context():
        db.session.execute(sa.delete(User).where(User.username == "alice"))
        db.session.commit()

        assert db.session.scalar(sa.select(sa.func.count()).select_from(Book)) == 0


def test_unsupported_method_on_the_collection_is_405(client, auth_headers):
    response = client.delete(BOOKS, headers=auth_headers)

    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]


@pytest.mark.parametrize("char", ["\ufb03", "\u0390", "\ufb2c", "\U0001f600"])
def test_200_characters_whose_case_folding_expands_are_fine(client, auth_headers, char):
    text = char * 200

    response = client.post(
        BOOKS,
        json=book_body(title=text, author=text, publisher=text),
        headers=auth_headers,
    )

    assert response.status_code == 201
    assert response.json["title"] == text
    listed = client.get(BOOKS, query_string={"author": text}, headers=auth_headers)
    assert listed.json["total"] == 1
