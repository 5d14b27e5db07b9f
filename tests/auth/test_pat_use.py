import logging
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from bookstore.extensions import db
from tests.auth.helpers import API, move_clock, refresh
from tests.auth.pats import ALL_SCOPES, DAY, TOKENS, mint, parse_time, pat
from tests.conftest import PASSWORD, bearer

BOOK = {"title": "Dune", "author": "Frank Herbert", "publisher": "Chilton", "price": 9}


def test_the_scopes_allow_what_api_md_says(client, user, auth_headers):
    writer = pat(mint(client, auth_headers, scopes=["books:write"]))
    reader = pat(mint(client, auth_headers, scopes=["books:read"]))
    profile = pat(mint(client, auth_headers, scopes=["profile:read"]))

    created = client.post(f"{API}/books", json=BOOK, headers=writer)
    book = f"{API}/books/{created.json['id']}"
    listed = client.get(f"{API}/books", headers=reader)
    read = client.get(book, headers=reader)
    patched = client.patch(book, json={"price": "10"}, headers=writer)
    me = client.get(f"{API}/users/me", headers=profile)

    assert created.status_code == 201
    assert created.json["owner_id"] == user["id"]
    assert [b["id"] for b in listed.json["items"]] == [created.json["id"]]
    assert read.status_code == 200
    assert patched.json["price"] == "10.00"
    assert me.json["id"] == user["id"]
    assert client.get(book, headers=writer).json["code"] == "insufficient_scope"
    assert client.get(book, headers=profile).json["code"] == "insufficient_scope"
    assert client.delete(book, headers=reader).json["code"] == "insufficient_scope"
    assert client.delete(book, headers=writer).status_code == 204


def test_refusal_names_the_needed_scope(client, auth_headers):
    token = pat(mint(client, auth_headers, scopes=["profile:read"]))

    response = client.get(f"{API}/books", headers=token)

    assert response.status_code == 403
    assert response.json["code"] == "insufficient_scope"
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="bookstore", error="insufficient_scope", scope="books:read"'
    )


def test_the_tutorial_header_carries_a_token_too(client, auth_headers):
    token = mint(client, auth_headers, scopes=["profile:read"])["token"]

    response = client.get(f"{API}/users/me", headers={"x-access-tokens": token})

    assert response.status_code == 200


def test_a_token_cannot_mint_tokens_even_with_every_scope(client, auth_headers):
    token = pat(mint(client, auth_headers, scopes=ALL_SCOPES))

    response = client.post(
        TOKENS, json={"name": "child", "scopes": ["books:read"]}, headers=token
    )

    assert response.status_code == 403
    assert response.json["code"] == "insufficient_scope"
    assert "scope=" not in response.headers["WWW-Authenticate"]
    assert client.get(TOKENS, headers=auth_headers).json["total"] == 1


def test_an_admins_token_cannot_administer_users(client, user, admin_headers):
    token = pat(mint(client, admin_headers, scopes=ALL_SCOPES))

    listing = client.get(f"{API}/users", headers=token)
    disabling = client.patch(
        f"{API}/users/{user['id']}", json={"is_active": False}, headers=token
    )

    assert listing.json["code"] == disabling.json["code"] == "insufficient_scope"


def test_a_token_is_not_a_refresh_token(client, auth_headers):
    token = mint(client, auth_headers, scopes=ALL_SCOPES)["token"]

    response = refresh(client, {"refresh_token": token})

    assert response.status_code == 401
    assert response.json["code"] == "invalid_token"


def _typo(token: str) -> str:
    i = 10
    return token[:i] + ("a" if token[i] != "a" else "b") + token[i + 1 :]


def _counted_statements(app):
    statements = []
    with app.app_context():
        sa.event.listen(
            db.engine,
            "before_cursor_execute",
            lambda *args: statements.append(args[2]),
        )
    return statements


def test_a_mistyped_token_is_refused_without_database_work(app, client, auth_headers):
    token = mint(client, auth_headers, scopes=ALL_SCOPES)["token"]
    statements = _counted_statements(app)

    answers = [
        client.get(f"{API}/users/me", headers=pat(bad))
        for bad in (_typo(token), token[:-1], token + "a", "bks_", "bks_" + "0" * 49)
    ]

    assert [(r.status_code, r.json["code"]) for r in answers] == [
        (401, "invalid_token")
    ] * 5
    assert 'error="invalid_token"' in answers[0].headers["WWW-Authenticate"]
    assert statements == []


def test_a_well_formed_unknown_token_is_invalid(app, client, auth_headers):
    from bookstore.auth.pats.value import mint as mint_value

    response = client.get(f"{API}/users/me", headers=pat(mint_value()))

    assert response.status_code == 401
    assert response.json["code"] == "invalid_token"


def test_an_expired_token_is_refused(client, auth_headers, monkeypatch):
    token = pat(mint(client, auth_headers, scopes=["profile:read"], expires_in=DAY))
    move_clock(monkeypatch, DAY - 5)
    assert client.get(f"{API}/users/me", headers=token).status_code == 200

    move_clock(monkeypatch, DAY + 1)
    response = client.get(f"{API}/users/me", headers=token)

    assert response.status_code == 401
    assert response.json["code"] == "token_expired"


def test_deleting_a_token_revokes_it_at_once(client, auth_headers):
    body = mint(client, auth_headers, scopes=["profile:read"])

    deleted = client.delete(f"{TOKENS}/{body['id']}", headers=auth_headers)
    used = client.get(f"{API}/users/me", headers=pat(body))

    assert deleted.status_code == 204
    assert (used.status_code, used.json["code"]) == (401, "token_revoked")
    again = client.delete(f"{TOKENS}/{body['id']}", headers=auth_headers)
    assert again.status_code == 404


def test_disabling_the_user_kills_their_tokens_for_good(
    client, user, auth_headers, admin_headers
):
    token = pat(mint(client, auth_headers, scopes=["profile:read"]))
    path = f"{API}/users/{user['id']}"

    client.patch(path, json={"is_active": False}, headers=admin_headers)
    while_disabled = client.get(f"{API}/users/me", headers=token)
    client.patch(path, json={"is_active": True}, headers=admin_headers)
    re_enabled = client.get(f"{API}/users/me", headers=token)

    assert (while_disabled.status_code, while_disabled.json["code"]) == (
        401,
        "token_revoked",
    )
    assert (re_enabled.status_code, re_enabled.json["code"]) == (401, "token_revoked")


def test_deleting_the_user_kills_their_tokens(client, user, auth_headers):
    token = pat(mint(client, auth_headers, scopes=["profile:read"]))

    client.delete(f"{API}/users/{user['id']}", headers=auth_headers)
    response = client.get(f"{API}/users/me", headers=token)

    assert response.status_code == 401


def test_logout_all_and_password_change_leave_tokens_alive(client, auth_headers):
    token = pat(mint(client, auth_headers, scopes=["profile:read"]))

    client.post(f"{API}/auth/logout-all", headers=auth_headers)
    from tests.auth.conftest import login_on

    fresh = bearer(login_on(client))
    changed = client.put(
        f"{API}/users/me/password",
        json={"current_password": PASSWORD, "new_password": "another long passphrase"},
        headers=fresh,
    )

    assert changed.status_code == 200
    assert client.get(f"{API}/users/me", headers=token).status_code == 200


def _last_used(client, headers, token_id):
    return client.get(f"{TOKENS}/{token_id}", headers=headers).json["last_used_at"]


def test_last_used_at_is_kept_to_the_minute_without_a_write_per_request(
    app, client, auth_headers, monkeypatch
):
    body = mint(client, auth_headers, scopes=["profile:read"])
    client.get(f"{API}/users/me", headers=pat(body))
    first = _last_used(client, auth_headers, body["id"])
    statements = _counted_statements(app)

    move_clock(monkeypatch, 50)
    client.get(f"{API}/users/me", headers=pat(body))
    writes = [s for s in statements if not s.lstrip().upper().startswith("SELECT")]
    within_the_minute = _last_used(client, auth_headers, body["id"])
    move_clock(monkeypatch, 61)
    client.get(f"{API}/users/me", headers=pat(body))
    later = _last_used(client, auth_headers, body["id"])

    assert first is not None
    assert abs(parse_time(first) - datetime.now(UTC)) < timedelta(seconds=5)
    assert writes == []
    assert within_the_minute == first
    assert parse_time(later) - parse_time(first) >= timedelta(seconds=60)


def test_creation_deletion_and_use_after_revocation_are_logged(
    client, user, auth_headers, caplog
):
    caplog.set_level(logging.INFO, logger="bookstore.audit")
    body = mint(client, auth_headers, scopes=["profile:read"])
    client.delete(f"{TOKENS}/{body['id']}", headers=auth_headers)
    client.get(f"{API}/users/me", headers=pat(body))

    events = [r for r in caplog.records if r.name == "bookstore.audit"]
    by_name = {r.event: r for r in events}
    for name in (
        "personal_access_token_created",
        "personal_access_token_deleted",
        "personal_access_token_used_after_revocation",
    ):
        assert by_name[name].user_id == user["id"]
        assert by_name[name].token_id == body["id"]
        assert by_name[name].request_id
    assert by_name["personal_access_token_created"].scopes == "profile:read"
    assert by_name["personal_access_token_used_after_revocation"].reason == "deleted"
    assert all(body["token"] not in r.getMessage() for r in caplog.records)
    assert all(body["token"] not in str(vars(r)) for r in caplog.records)
