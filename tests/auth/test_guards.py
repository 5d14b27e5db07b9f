import pytest
import sqlalchemy as sa

from bookstore.extensions import db
from tests.auth.helpers import API, move_clock
from tests.conftest import bearer

ME = f"{API}/users/me"


def test_users_me_returns_the_caller_without_secrets(client, user, auth_headers):
    response = client.get(ME, headers=auth_headers)

    assert response.status_code == 200
    assert response.json == user
    assert "password" not in response.get_data(as_text=True)


def test_no_token_is_missing_token_with_a_bare_bearer_challenge(client):
    response = client.get(ME)

    assert response.status_code == 401
    assert response.json["code"] == "missing_token"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="bookstore"'


def test_another_scheme_counts_as_no_token(client, user):
    response = client.get(ME, headers={"Authorization": "Basic YWxpY2U6cHc="})

    assert response.status_code == 401
    assert response.json["code"] == "missing_token"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_bearer_scheme_is_case_insensitive(client, auth_headers, scheme):
    token = auth_headers["Authorization"].split(" ", 1)[1]

    response = client.get(ME, headers={"Authorization": f"{scheme} {token}"})

    assert response.status_code == 200


def test_the_tutorial_header_x_access_tokens_is_accepted(client, auth_headers):
    token = auth_headers["Authorization"].split(" ", 1)[1]

    response = client.get(ME, headers={"x-access-tokens": token})

    assert response.status_code == 200


def test_the_tutorial_header_is_validated_identically(client, user):
    response = client.get(ME, headers={"x-access-tokens": "not.a.token"})

    assert response.status_code == 401
    assert response.json["code"] == "invalid_token"


@pytest.mark.parametrize(
    "value", ["Bearer", "Bearer ", "Bearer a b", "Bearer not-a-jwt", "Bearer a.b.c"]
)
def test_malformed_bearer_values_are_invalid_token(client, user, value):
    response = client.get(ME, headers={"Authorization": value})

    assert response.status_code == 401
    assert response.json["code"] == "invalid_token"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="bookstore", error="invalid_token"')
    assert "error_description=" in challenge


def _selects(app, client, path, headers) -> list[str]:
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.get(path, headers=headers)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert response.status_code == 200
    return [s for s in statements if s.lstrip().upper().startswith("SELECT")]


def test_a_book_listing_is_one_select_of_the_session_check_and_the_page(
    app, client, auth_headers, backend
):
    book = {"title": "Dune", "author": "Frank Herbert", "publisher": "Ace"}
    created = client.post(
        f"{API}/books", json={**book, "price": "9.99"}, headers=auth_headers
    )
    assert created.status_code == 201

    selects = _selects(app, client, f"{API}/books", auth_headers)

    # PostgreSQL: one statement, one round trip. SQLite (in the worker): two.
    statement = " ".join(selects)
    assert len(selects) == (1 if backend == "postgresql" else 2)
    assert "FROM users JOIN auth_sessions" in statement
    assert "auth_sessions.public_id =" in statement
    assert "FROM books" in statement and "book_counts" in statement


def test_getting_a_book_is_one_select_of_the_session_check_and_the_book(
    app, client, auth_headers, backend
):
    book = {"title": "Dune", "author": "Frank Herbert", "publisher": "Ace"}
    created = client.post(
        f"{API}/books", json={**book, "price": "9.99"}, headers=auth_headers
    )

    selects = _selects(app, client, f"{API}/books/{created.json['id']}", auth_headers)

    statement = " ".join(selects)
    assert len(selects) == (1 if backend == "postgresql" else 2)
    assert "FROM users JOIN auth_sessions" in statement and "FROM books" in statement


def test_users_me_adds_one_primary_key_select_for_the_full_user(
    app, client, auth_headers
):
    guard, user = _selects(app, client, ME, auth_headers)

    assert "FROM users JOIN auth_sessions" in guard
    assert "FROM users" in user and "users.id =" in user


def test_an_accepted_token_still_expires(client, auth_headers, monkeypatch):
    assert client.get(ME, headers=auth_headers).status_code == 200  # now verified

    move_clock(monkeypatch, 901 + 30)

    response = client.get(ME, headers=auth_headers)
    assert response.status_code == 401
    assert response.json["code"] == "token_expired"


def test_an_accepted_access_token_is_still_refused_as_a_refresh_token(
    client, user, login
):
    pair = login("alice")
    assert client.get(ME, headers=bearer(pair)).status_code == 200

    response = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": pair["access_token"]}
    )

    assert response.status_code == 401
    assert response.json["code"] == "invalid_token"


def _as_raised(make_app):
    """An app with one more route that raises what the guard used to raise for
    the same request (its token read and verified by the same functions), so
    the error handler builds the 401."""
    from bookstore.auth.guards import bearer_token
    from bookstore.errors import MissingToken
    from bookstore.security import tokens

    app = make_app()

    @app.get("/raised")
    def raised():
        token = bearer_token()
        if not token:
            raise MissingToken("This endpoint needs an access token.")
        tokens.decode(token, tokens.ACCESS)
        return {}

    return app


def _comparable(response) -> tuple:
    body = dict(response.json)
    body.pop("request_id")
    headers = sorted((k, v) for k, v in response.headers if k != "X-Request-ID")
    return response.status_code, headers, body


@pytest.mark.parametrize(
    "credential", ["none", "malformed", "forged", "refresh", "expired", "legacy"]
)
def test_the_guards_own_401_is_the_error_handlers(make_app, monkeypatch, credential):
    app = _as_raised(make_app)
    client = app.test_client()
    password = "correct horse battery staple"
    body = {"username": "alice", "password": password}
    assert client.post(f"{API}/auth/register", json=body).status_code == 201
    pair = client.post(f"{API}/auth/login", json=body).json
    access = pair["access_token"]
    headers = {
        "none": {},
        "malformed": {"Authorization": "Bearer not.a token"},
        "forged": {"Authorization": f"Bearer {access[:-2]}{access[-2:][::-1]}x"},
        "refresh": {"Authorization": f"Bearer {pair['refresh_token']}"},
        "expired": {"Authorization": f"Bearer {access}"},
        "legacy": {"x-access-tokens": "garbage"},
    }[credential]
    if credential == "expired":
        move_clock(monkeypatch, 901 + 30)

    guarded = client.get(ME, headers=headers)
    raised = client.get("/raised", headers=headers)

    assert guarded.status_code == 401
    assert _comparable(guarded) == _comparable(raised)
