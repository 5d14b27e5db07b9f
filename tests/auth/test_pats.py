import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from bookstore.auth.pats.models import PersonalAccessToken
from bookstore.extensions import db
from tests.auth.helpers import API, move_clock
from tests.auth.pats import ALL_SCOPES, DAY, TOKENS, mint, parse_time, pat
from tests.conftest import bearer

BOOK = {"title": "Dune", "author": "Frank Herbert", "publisher": "Chilton", "price": 9}


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
    lifetime = parse_time(body["expires_at"]) - parse_time(body["created_at"])
    assert lifetime == timedelta(days=90)
    assert parse_time(body["created_at"]) >= before - timedelta(seconds=1)
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

    lifetime = parse_time(body["expires_at"]) - parse_time(body["created_at"])
    assert lifetime == timedelta(days=days)


def test_someone_elses_token_is_404(client, auth_headers, other_headers):
    body = mint(client, auth_headers, scopes=["profile:read"])

    shown = client.get(f"{TOKENS}/{body['id']}", headers=other_headers)
    deleted = client.delete(f"{TOKENS}/{body['id']}", headers=other_headers)

    assert shown.status_code == deleted.status_code == 404
    assert client.get(TOKENS, headers=other_headers).json["total"] == 0
    assert client.get(f"{API}/users/me", headers=pat(body)).status_code == 200


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
