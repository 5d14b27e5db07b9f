"""Scope enforcement, generated from the app's URL map: every guarded endpoint,
every scope, a personal access token with exactly that scope."""

import re
import uuid

import pytest

from bookstore import create_app
from bookstore.auth import scopes
from bookstore.auth.guards import token_required
from tests.auth.pats import ALL_SCOPES, mint, pat
from tests.conftest import PASSWORD, bearer

_APP = create_app("testing")  # only its URL map is read, at collection
ROUTES = sorted(
    (rule.rule, method, rule.endpoint)
    for rule in _APP.url_map.iter_rules()
    for method in rule.methods - {"HEAD", "OPTIONS"}
)
DECLARED = {
    (path, method, endpoint): scopes.declared(_APP.view_functions[endpoint])
    for path, method, endpoint in ROUTES
}
GUARDED = [route for route, declaration in DECLARED.items() if declaration]
BOOK = {"title": "Dune", "author": "Frank Herbert", "publisher": "Chilton", "price": 9}


def _call(client, method, path, headers):
    return client.open(path, method=method, json={}, headers=headers)


def test_every_endpoint_that_needs_a_token_declares_its_scope(client):
    undeclared_but_guarded = [
        (method, path)
        for (path, method, endpoint), declaration in DECLARED.items()
        if declaration is None
        and _call(client, method, _fill(path, {}), {}).status_code == 401
    ]

    assert undeclared_but_guarded == []  # add @scope(...) or @login_only


def test_the_table_covers_what_api_md_lists():
    by_endpoint = {endpoint: d for (_, _, endpoint), d in DECLARED.items()}

    assert {e for e, d in by_endpoint.items() if d in scopes.SCOPES} == {
        "books.list_books",
        "books.get_book",
        "books.create_book",
        "books.replace_book",
        "books.update_book",
        "books.delete_book",
        "users.get_me",
    }
    assert by_endpoint["users.get_me"] == "profile:read"
    assert by_endpoint["books.get_book"] == "books:read"
    assert by_endpoint["books.delete_book"] == "books:write"


def test_an_undeclared_guarded_view_refuses_every_personal_access_token(make_app):
    app = make_app()

    @app.get("/api/v1/undeclared")
    @token_required
    def undeclared():
        return {"reached": True}

    client = app.test_client()
    credentials = {"username": "alice", "password": PASSWORD}
    client.post("/api/v1/auth/register", json=credentials)
    pair = client.post("/api/v1/auth/login", json=credentials).json
    token = pat(mint(client, bearer(pair), scopes=ALL_SCOPES))

    refused = client.get("/api/v1/undeclared", headers=token)
    with_login = client.get("/api/v1/undeclared", headers=bearer(pair))

    assert (refused.status_code, refused.json["code"]) == (403, "insufficient_scope")
    assert with_login.json == {"reached": True}


def _fill(path: str, ids: dict) -> str:
    """The route with each <converter:name> replaced by a real or random id."""
    return re.sub(
        r"<(?:\w+:)?(\w+)>",
        lambda m: str(ids.get(m[1], uuid.uuid4())),
        path,
    )


@pytest.fixture
def ids_and_login(client, admin, admin_headers):
    """Real targets for the routes (a book, the caller, a session, a token), owned
    by an admin, so that a login token passes every check the route makes."""
    book = client.post("/api/v1/books", json=BOOK, headers=admin_headers).json
    sessions = client.get("/api/v1/auth/sessions", headers=admin_headers).json
    spare = mint(client, admin_headers)
    ids = {
        "book_id": book["id"],
        "user_id": admin["id"],
        "session_id": sessions["items"][0]["id"],
        "token_id": spare["id"],
    }
    return ids, admin_headers


def _refused(response) -> bool:
    return (
        response.status_code == 403
        and response.json.get("code") == "insufficient_scope"
    )


GRANTS = [*([s] for s in ALL_SCOPES), ALL_SCOPES]


@pytest.mark.parametrize(("path", "method", "endpoint"), GUARDED)
def test_a_token_passes_exactly_where_its_scopes_allow(
    client, ids_and_login, path, method, endpoint
):
    ids, headers = ids_and_login
    needed = scopes.needed(_APP.view_functions[endpoint])

    for granted in GRANTS:  # every scope alone, then all of them
        token = pat(mint(client, headers, scopes=granted))
        response = _call(client, method, _fill(path, ids), token)

        if needed in granted:
            assert response.status_code not in (401, 403), (granted, response.json)
        else:
            assert _refused(response), (granted, response.json)
            challenge = response.headers["WWW-Authenticate"]
            assert 'error="insufficient_scope"' in challenge
            if needed is not None:
                assert f'scope="{needed}"' in challenge


@pytest.mark.parametrize(("path", "method", "endpoint"), GUARDED)
def test_a_login_access_token_keeps_full_power(
    client, ids_and_login, path, method, endpoint
):
    ids, headers = ids_and_login

    response = _call(client, method, _fill(path, ids), headers)

    assert response.status_code not in (401, 403), response.json
