import pytest

from tests.books.conftest import BOOKS, book_body
from tests.conftest import PASSWORD, bearer


@pytest.fixture
def small_shelf(make_app):
    return make_app(MAX_BOOKS_PER_USER=3).test_client()


def _headers(client, username):
    client.post(
        "/api/v1/auth/register", json={"username": username, "password": PASSWORD}
    )
    login = client.post(
        "/api/v1/auth/login", json={"username": username, "password": PASSWORD}
    )
    return bearer(login.json)


def _create(client, headers):
    return client.post(BOOKS, json=book_body(), headers=headers)


def test_a_full_shelf_refuses_another_book_with_409(small_shelf):
    alice = _headers(small_shelf, "alice")
    for _ in range(3):
        assert _create(small_shelf, alice).status_code == 201

    response = _create(small_shelf, alice)

    assert response.status_code == 409
    assert response.json["code"] == "conflict"
    assert "at most 3 books" in response.json["detail"]
    assert small_shelf.get(BOOKS, headers=alice).json["total"] == 3


def test_deleting_a_book_makes_room_again(small_shelf):
    alice = _headers(small_shelf, "alice")
    ids = [_create(small_shelf, alice).json["id"] for _ in range(3)]
    small_shelf.delete(f"{BOOKS}/{ids[0]}", headers=alice)

    assert _create(small_shelf, alice).status_code == 201
    assert _create(small_shelf, alice).status_code == 409


def test_the_limit_is_per_user(small_shelf):
    alice, mallory = _headers(small_shelf, "alice"), _headers(small_shelf, "mallory")
    for _ in range(3):
        _create(small_shelf, alice)

    assert _create(small_shelf, mallory).status_code == 201


def test_an_idempotent_create_is_capped_too_and_its_key_stays_unused(small_shelf):
    alice = _headers(small_shelf, "alice")
    for _ in range(3):
        _create(small_shelf, alice)

    refused = _create(small_shelf, {**alice, "Idempotency-Key": "k1"})
    books = small_shelf.get(BOOKS, headers=alice).json["items"]
    small_shelf.delete(f"{BOOKS}/{books[0]['id']}", headers=alice)
    retried = _create(small_shelf, {**alice, "Idempotency-Key": "k1"})

    assert refused.status_code == 409
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried.headers
