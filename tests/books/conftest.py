import itertools

import pytest

BOOKS = "/api/v1/books"
_numbers = itertools.count(1)


def book_body(**overrides) -> dict:
    body = {
        "title": "Dune",
        "author": "Frank Herbert",
        "publisher": "Chilton Books",
        "price": "9.99",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


@pytest.fixture
def create_book(client):
    """POST a book through the API; return the response JSON."""

    def create(headers: dict, **overrides) -> dict:
        response = client.post(BOOKS, json=book_body(**overrides), headers=headers)
        assert response.status_code == 201, response.json
        return response.json

    return create


@pytest.fixture
def book(create_book, auth_headers):
    return create_book(auth_headers, isbn="978-0-441-01359-3")


@pytest.fixture
def shelf(client, auth_headers):
    """Books created in this order, so the id tiebreak follows the list index."""

    def make(bodies: list[dict]) -> list[dict]:
        created = []
        for body in bodies:
            response = client.post(BOOKS, json=book_body(**body), headers=auth_headers)
            assert response.status_code == 201, response.json
            created.append(response.json)
        return created

    return make
