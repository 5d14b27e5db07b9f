"""A created book's Location is built once per script root, not by url_for per
request: held to url_for's answer."""

import uuid

import pytest
from flask import url_for
from werkzeug.urls import iri_to_uri

from bookstore.books.routes import _location
from tests.books.conftest import BOOKS, book_body


@pytest.mark.parametrize("script_name", ["", "/shop", "/a b/ü%20", "/shop/"])
def test_the_location_is_what_url_for_builds(app, client, auth_headers, script_name):
    environ = {"SCRIPT_NAME": script_name}

    responses = [
        client.post(
            BOOKS, json=book_body(), headers=auth_headers, environ_overrides=environ
        )
        for _ in range(2)  # the first builds the prefix, the second reuses it
    ]

    for response in responses:
        assert response.status_code == 201, response.json
        book_id = uuid.UUID(response.json["id"])
        with app.test_request_context(BOOKS, method="POST", environ_overrides=environ):
            expected = url_for("books.get_book", book_id=book_id)
            assert _location(book_id) == expected
        # werkzeug sends a header value as a URI (as it did url_for's)
        assert response.headers["Location"] == iri_to_uri(expected)


def test_each_script_root_gets_its_own_location(client, auth_headers):
    under = client.post(
        BOOKS,
        json=book_body(),
        headers=auth_headers,
        environ_overrides={"SCRIPT_NAME": "/shop"},
    )
    plain = client.post(BOOKS, json=book_body(), headers=auth_headers)

    assert under.headers["Location"] == f"/shop{BOOKS}/{under.json['id']}"
    assert plain.headers["Location"] == f"{BOOKS}/{plain.json['id']}"
