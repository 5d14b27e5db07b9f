import secrets
from datetime import UTC, datetime

import jwt
import pytest

from tests.auth.conftest import login_on
from tests.auth.helpers import API, me, move_clock, refresh
from tests.conftest import PASSWORD

DAY = 24 * 3600


def _claims(token):
    return jwt.decode(token, options={"verify_signature": False})


def _sessions(client, pair):
    return client.get(
        f"{API}/auth/sessions",
        headers={"Authorization": f"Bearer {pair['access_token']}"},
    ).json["items"]


def _keep_refreshing(client, pair, monkeypatch, *days):
    for day in days:
        move_clock(monkeypatch, day * DAY)
        response = refresh(client, pair)
        assert response.status_code == 200, response.json
        pair = response.json
    return pair


def test_a_refresh_near_the_end_is_capped_at_the_sessions_absolute_end(
    two_clients, alice, monkeypatch
):
    one, _ = two_clients
    first = login_on(one)
    end = _claims(first["access_token"])["iat"] + 30 * DAY

    late = _keep_refreshing(one, first, monkeypatch, 13, 26, 29)

    claims = _claims(late["refresh_token"])
    assert end - 5 <= claims["exp"] <= end + 5
    assert 1 * DAY - 10 <= late["refresh_expires_in"] <= 1 * DAY + 5
    listed = datetime.fromisoformat(_sessions(one, late)[0]["expires_at"])
    assert abs(listed.astimezone(UTC).timestamp() - end) <= 5


def test_an_access_token_never_outlives_its_session(two_clients, alice, monkeypatch):
    one, _ = two_clients
    first = login_on(one)
    end = _claims(first["access_token"])["iat"] + 30 * DAY

    last = _keep_refreshing(one, first, monkeypatch, 13, 26, 30 - 5 / (24 * 60))

    assert _claims(last["access_token"])["exp"] <= end + 1
    assert last["expires_in"] <= 5 * 60 + 1


@pytest.mark.parametrize("after_end", [5, 3600])  # within the JWT leeway, and past it
def test_refreshing_after_the_absolute_end_is_token_expired(
    two_clients, alice, monkeypatch, after_end
):
    one, _ = two_clients
    late = _keep_refreshing(one, login_on(one), monkeypatch, 13, 26, 29)

    move_clock(monkeypatch, 30 * DAY + after_end)
    response = refresh(one, late)

    assert response.status_code == 401
    assert response.json["code"] == "token_expired"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert me(one, late).json["code"] == "token_expired"


def test_logging_in_again_starts_a_new_full_session(two_clients, alice, monkeypatch):
    one, _ = two_clients
    _keep_refreshing(one, login_on(one), monkeypatch, 13, 26, 29)

    move_clock(monkeypatch, 31 * DAY)
    fresh = login_on(one)

    assert fresh["refresh_expires_in"] == 14 * DAY
    assert refresh(one, fresh).status_code == 200


def test_a_lowered_max_age_ends_older_sessions_at_their_next_refresh(
    make_app, monkeypatch
):
    secret = secrets.token_hex(32)
    before = make_app(SECRET_KEY=secret).test_client()
    after = make_app(SECRET_KEY=secret, SESSION_MAX_AGE=3600).test_client()
    before.post(f"{API}/auth/register", json={"username": "bob", "password": PASSWORD})
    pair = login_on(before, "bob")

    move_clock(monkeypatch, 2 * 3600)
    response = refresh(after, pair)

    assert response.status_code == 401
    assert response.json["code"] == "token_expired"


def test_a_max_age_below_the_refresh_ttl_caps_the_first_pair(make_app):
    client = make_app(SESSION_MAX_AGE=600).test_client()
    client.post(f"{API}/auth/register", json={"username": "bob", "password": PASSWORD})

    pair = login_on(client, "bob")

    assert pair["refresh_expires_in"] == 600
    assert pair["expires_in"] == 600
