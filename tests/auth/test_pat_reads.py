"""A personal access token on the read-only book endpoints, where its check rides
on the view's first read (on PostgreSQL in the same statement)."""

import logging
import uuid

import pytest
import sqlalchemy as sa
from flask import g

from bookstore.auth import sessioncheck
from bookstore.auth.pats import guard
from bookstore.auth.pats.models import PersonalAccessToken
from bookstore.books import listing
from bookstore.errors import APIError
from bookstore.extensions import db
from tests.auth.helpers import API, move_clock, set_active
from tests.auth.pats import DAY, TOKENS, mint, pat

BOOK = {"title": "Dune", "author": "Frank Herbert", "publisher": "Chilton", "price": 9}
READS = ["list", "get", "head", "missing"]


def _read(client, read, book_id, headers):
    path = {
        "list": f"{API}/books",
        "head": f"{API}/books",
        "get": f"{API}/books/{book_id}",
        "missing": f"{API}/books/{uuid.uuid4()}",
    }[read]
    method = "HEAD" if read == "head" else "GET"
    return client.open(path, method=method, headers=headers)


def _kill(client, app, monkeypatch, change, body, user, auth_headers):
    """Make the token dead in one of the ways API.md lists; return the code."""
    if change == "revoked":
        client.delete(f"{TOKENS}/{body['id']}", headers=auth_headers)
        return "token_revoked"
    if change == "disabled":
        set_active(app, "alice", False)
        return "token_revoked"
    if change == "user_deleted":
        client.delete(f"{API}/users/{user['id']}", headers=auth_headers)
        return "invalid_token"
    move_clock(monkeypatch, DAY + 1)
    return "token_expired"


@pytest.mark.parametrize("read", READS)
@pytest.mark.parametrize("change", ["revoked", "expired", "disabled", "user_deleted"])
def test_a_dead_token_is_401_on_every_read_not_data_nor_404(
    app, client, user, auth_headers, monkeypatch, read, change
):
    book = client.post(f"{API}/books", json=BOOK, headers=auth_headers).json
    body = mint(client, auth_headers, scopes=["books:read"], expires_in=DAY)
    alive = _read(client, read, book["id"], pat(body))

    code = _kill(client, app, monkeypatch, change, body, user, auth_headers)
    response = _read(client, read, book["id"], pat(body))

    assert alive.status_code == (404 if read == "missing" else 200)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    if read != "head":
        assert response.json["code"] == code
        assert "Dune" not in response.text and book["id"] not in response.text
    assert "ETag" not in response.headers


@pytest.mark.parametrize("read", READS)
def test_an_unknown_token_is_401_and_one_without_books_read_403(
    client, auth_headers, read
):
    from bookstore.auth.pats.value import mint as mint_value

    book = client.post(f"{API}/books", json=BOOK, headers=auth_headers).json
    writer = pat(mint(client, auth_headers, scopes=["books:write"]))

    unknown = _read(client, read, book["id"], pat(mint_value()))
    no_scope = _read(client, read, book["id"], writer)

    assert unknown.status_code == 401
    assert no_scope.status_code == 403
    assert 'scope="books:read"' in no_scope.headers["WWW-Authenticate"]
    if read != "head":
        assert unknown.json["code"] == "invalid_token"
        assert no_scope.json["code"] == "insufficient_scope"
        assert "Dune" not in no_scope.text


def test_a_revoked_token_lacking_the_scope_is_still_401(client, auth_headers):
    body = mint(client, auth_headers, scopes=["books:write"])
    client.delete(f"{TOKENS}/{body['id']}", headers=auth_headers)

    response = client.get(f"{API}/books", headers=pat(body))

    assert (response.status_code, response.json["code"]) == (401, "token_revoked")


def test_a_read_with_a_revoked_token_is_logged_once(client, user, auth_headers, caplog):
    body = mint(client, auth_headers, scopes=["books:read"])
    client.delete(f"{TOKENS}/{body['id']}", headers=auth_headers)
    caplog.set_level(logging.INFO, logger="bookstore.audit")

    client.get(f"{API}/books", headers=pat(body))

    events = [
        r
        for r in caplog.records
        if getattr(r, "event", None) == "personal_access_token_used_after_revocation"
    ]
    assert len(events) == 1
    assert (events[0].user_id, events[0].token_id) == (user["id"], body["id"])


def _last_used(client, headers, token_id):
    return client.get(f"{TOKENS}/{token_id}", headers=headers).json["last_used_at"]


def test_a_list_shows_the_owners_books_and_records_the_use(
    client, user, auth_headers, monkeypatch
):
    book = client.post(f"{API}/books", json=BOOK, headers=auth_headers).json
    body = mint(client, auth_headers, scopes=["books:read"])

    listed = client.get(f"{API}/books", headers=pat(body))
    first = _last_used(client, auth_headers, body["id"])
    move_clock(monkeypatch, 61)
    empty_page = client.get(f"{API}/books?page=2", headers=pat(body))
    later = _last_used(client, auth_headers, body["id"])

    assert listed.json["items"] == [book]
    assert (empty_page.json["items"], empty_page.json["total"]) == ([], 1)
    assert first is not None and later > first


def _outcome(run):
    try:
        return run()
    except APIError as error:
        return error.code


@pytest.mark.parametrize(
    "change", ["alive", "revoked", "expired", "disabled", "unknown", "no_scope"]
)
def test_the_token_check_in_a_read_decides_as_the_check_alone(
    app, client, auth_headers, monkeypatch, change
):
    from bookstore.auth.pats.value import mint as mint_value

    for _ in range(3):
        client.post(f"{API}/books", json=BOOK | {"price": 1}, headers=auth_headers)
    scopes = ["books:write"] if change == "no_scope" else ["books:read"]
    body = mint(client, auth_headers, scopes=scopes, expires_in=DAY)
    token = mint_value() if change == "unknown" else body["token"]
    if change == "revoked":
        client.delete(f"{TOKENS}/{body['id']}", headers=auth_headers)
    if change == "disabled":
        set_active(app, "alice", False)
    if change == "expired":
        move_clock(monkeypatch, DAY + 1)
    guarded = listing._UNFILTERED_PAGE["title"]
    params = {"limit": 20, "offset": 0}

    def combined():
        g.read_only = True
        sessioncheck.wait(guard.pending_check(token))
        rows = guarded.rows(params)
        return sessioncheck.settle(), [tuple(row)[:9] for row in rows]

    with app.test_request_context(f"{API}/books"):
        via_read = _outcome(combined)
    with app.test_request_context(f"{API}/books"):
        alone = _outcome(lambda: guard.authenticate(token))
        if not isinstance(alone, str):
            owner = {"owner_id": alone.user.id}
            page = [tuple(r) for r in db.session.execute(guarded.plain, params | owner)]

    if change == "alive":
        assert via_read[0] == alone
        assert via_read[1] == page and len(page) == 3
    else:
        assert via_read == alone
        assert (
            alone
            == {
                "revoked": "token_revoked",
                "disabled": "token_revoked",
                "expired": "token_expired",
                "unknown": "invalid_token",
                "no_scope": "insufficient_scope",
            }[change]
        )


def test_a_revoked_tokens_combined_read_joins_no_rows(app, client, auth_headers):
    client.post(f"{API}/books", json=BOOK, headers=auth_headers)
    body = mint(client, auth_headers, scopes=["books:read"])
    client.delete(f"{TOKENS}/{body['id']}", headers=auth_headers)
    statement = listing._UNFILTERED_PAGE["title"].combined(guard.PAT)

    with app.app_context():
        digest = db.session.scalar(
            sa.select(PersonalAccessToken.token_digest).where(
                PersonalAccessToken.public_id == uuid.UUID(body["id"])
            )
        )
        rows = db.session.execute(
            statement, {"digest": digest, "limit": 20, "offset": 0}
        ).all()

    assert len(rows) == 1  # the check's row alone: the verdict's, no book
    assert rows[0]._position is None and rows[0].title is None
    assert rows[0].caller_token_alive is False


def test_the_request_line_names_the_tokens_user_also_on_a_404(
    client, user, auth_headers, capfd
):
    import json

    token = pat(mint(client, auth_headers, scopes=["books:read"]))
    capfd.readouterr()

    client.get(f"{API}/books/{uuid.uuid4()}", headers=token)
    client.get(f"{API}/books", headers=token)

    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines()]
    requests = [line for line in lines if line.get("logger") == "bookstore.request"]
    assert [(line["status"], line["user_id"]) for line in requests] == [
        (404, user["id"]),
        (200, user["id"]),
    ]
