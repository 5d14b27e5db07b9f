import hashlib
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from bookstore.auth.pats.models import PersonalAccessToken
from bookstore.extensions import db
from tests.auth.helpers import API, move_clock, refresh
from tests.auth.pats import ALL_SCOPES, TOKENS, mint, pat
from tests.conftest import PASSWORD, bearer

BOOK = {"title": "Dune", "author": "Frank Herbert", "publisher": "Chilton", "price": 9}
DAY = 86_400


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_creating_a_token_shows_its_value_once(client, auth_headers):
    before = datetime.now(UTC)

    response = client.post(
        TOKENS,
        json={"name": "backup script", "scopes": ["books:read", "profile:read"]},
        headers=auth_headers,
    )

    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json
    assert set(body) == {
        "id",
        "name",
        "scopes",
        "created_at",
        "expires_at",
        "last_used_at",
        "token",
    }
    assert re.fullmatch(r"bks_[0-9A-Za-z]{49}", body["token"])
    assert (body["name"], body["scopes"], body["last_used_at"]) == (
        "backup script",
        ["books:read", "profile:read"],
        None,
    )
    lifetime = _time(body["expires_at"]) - _time(body["created_at"])
    assert lifetime == timedelta(days=90)
    assert _time(body["created_at"]) >= before - timedelta(seconds=1)
    shown = client.get(response.headers["Location"], headers=auth_headers)
    assert shown.status_code == 200
    assert shown.json == {k: v for k, v in body.items() if k != "token"}


def test_only_a_digest_of_the_token_is_stored(app, client, auth_headers):
    body = mint(client, auth_headers)

    with app.app_context():
        row = db.session.execute(sa.select(PersonalAccessToken.__table__)).one()

    assert body["token"] not in [str(value) for value in row]
    assert row.token_digest == hashlib.sha256(body["token"].encode()).hexdigest()


def test_listing_shows_live_tokens_without_values(
    client, auth_headers, login, monkeypatch
):
    first = mint(client, auth_headers, expires_in=DAY)
    second = mint(client, auth_headers, scopes=ALL_SCOPES)
    gone = mint(client, auth_headers)
    client.delete(f"{TOKENS}/{gone['id']}", headers=auth_headers)
    move_clock(monkeypatch, DAY + 1)  # the first has expired
    auth_headers = bearer(login("alice"))

    response = client.get(TOKENS, headers=auth_headers)

    assert response.status_code == 200
    assert response.json["total"] == 1
    assert [t["id"] for t in response.json["items"]] == [second["id"]]
    assert "token" not in response.json["items"][0]
    assert (
        client.get(f"{TOKENS}/{first['id']}", headers=auth_headers).status_code == 404
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "", "scopes": ["books:read"]},
        {"name": "   ", "scopes": ["books:read"]},
        {"name": "x" * 101, "scopes": ["books:read"]},
        {"name": "nul\x00", "scopes": ["books:read"]},
        {"name": 5, "scopes": ["books:read"]},
        {"scopes": ["books:read"]},
        {"name": "ci"},
        {"name": "ci", "scopes": []},
        {"name": "ci", "scopes": ["admin"]},
        {"name": "ci", "scopes": ["books:*"]},
        {"name": "ci", "scopes": "books:read"},
        {"name": "ci", "scopes": ["books:read", "books:read"]},
        {"name": "ci", "scopes": ["books:read"], "expires_in": DAY - 1},
        {"name": "ci", "scopes": ["books:read"], "expires_in": 366 * DAY + 1},
        {"name": "ci", "scopes": ["books:read"], "expires_in": 0},
        {"name": "ci", "scopes": ["books:read"], "expires_in": "86400"},
        {"name": "ci", "scopes": ["books:read"], "expires_in": 86400.5},
        {"name": "ci", "scopes": ["books:read"], "expires_in": True},
        {"name": "ci", "scopes": ["books:read"], "expires_in": 10**30},
        {"name": "ci", "scopes": ["books:read"], "user_id": 1},
    ],
)
def test_bad_token_requests_are_422(client, auth_headers, fields):
    response = client.post(TOKENS, json=fields, headers=auth_headers)

    assert response.status_code == 422
    assert response.json["code"] == "validation_error"
    assert client.get(TOKENS, headers=auth_headers).json["total"] == 0


@pytest.mark.parametrize("days", [1, 366])
def test_expiry_bounds_are_accepted(client, auth_headers, days):
    body = mint(client, auth_headers, expires_in=days * DAY)

    lifetime = _time(body["expires_at"]) - _time(body["created_at"])
    assert lifetime == timedelta(days=days)


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


def test_someone_elses_token_is_404(client, auth_headers, other_headers):
    body = mint(client, auth_headers, scopes=["profile:read"])

    shown = client.get(f"{TOKENS}/{body['id']}", headers=other_headers)
    deleted = client.delete(f"{TOKENS}/{body['id']}", headers=other_headers)

    assert shown.status_code == deleted.status_code == 404
    assert client.get(TOKENS, headers=other_headers).json["total"] == 0
    assert client.get(f"{API}/users/me", headers=pat(body)).status_code == 200


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
    assert abs(_time(first) - datetime.now(UTC)) < timedelta(seconds=5)
    assert writes == []
    assert within_the_minute == first
    assert _time(later) - _time(first) >= timedelta(seconds=60)


def test_at_most_100_live_tokens_per_user(client, auth_headers, login, monkeypatch):
    made = [mint(client, auth_headers, expires_in=DAY) for _ in range(99)]
    mint(client, auth_headers, expires_in=2 * DAY)

    refused = client.post(
        TOKENS, json={"name": "101st", "scopes": ["books:read"]}, headers=auth_headers
    )
    client.delete(f"{TOKENS}/{made[0]['id']}", headers=auth_headers)
    after_delete = client.post(
        TOKENS, json={"name": "again", "scopes": ["books:read"]}, headers=auth_headers
    )
    move_clock(monkeypatch, DAY + 1)  # 98 expire: they no longer count
    auth_headers = bearer(login("alice"))
    after_expiry = client.post(
        TOKENS, json={"name": "more", "scopes": ["books:read"]}, headers=auth_headers
    )

    assert (refused.status_code, refused.json["code"]) == (409, "conflict")
    assert after_delete.status_code == 201
    assert after_expiry.status_code == 201


def test_token_endpoints_need_a_login(client):
    assert client.get(TOKENS).json["code"] == "missing_token"
    assert client.post(TOKENS, json={}).json["code"] == "missing_token"


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


def test_purge_deletes_only_long_dead_tokens(app, client, auth_headers, monkeypatch):
    mint(client, auth_headers, expires_in=DAY)  # expires, then lies dead 39 days
    revoked = mint(client, auth_headers)
    live = mint(client, auth_headers, scopes=["profile:read"])
    client.delete(f"{TOKENS}/{revoked['id']}", headers=auth_headers)
    move_clock(monkeypatch, 40 * DAY)

    result = app.test_cli_runner().invoke(args=["tokens", "purge", "--days", "30"])

    assert result.exit_code == 0
    assert "Purged 2 personal access tokens." in result.output
    with app.app_context():
        left = db.session.scalars(sa.select(PersonalAccessToken.public_id)).all()
    assert [str(i) for i in left] == [live["id"]]
