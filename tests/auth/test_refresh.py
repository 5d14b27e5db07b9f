import pytest

from tests.auth.conftest import login_on as _login
from tests.auth.helpers import API, me, move_clock, refresh
from tests.conftest import PASSWORD


def test_refresh_returns_a_new_login_shaped_pair(two_clients, alice):
    one, two = two_clients
    pair = _login(one)

    response = refresh(two, pair)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert set(response.json) == set(pair)
    assert response.json["refresh_token"] != pair["refresh_token"]
    assert response.json["access_token"] != pair["access_token"]
    assert me(one, response.json).status_code == 200


def test_the_new_refresh_token_rotates_again_on_the_other_instance(two_clients, alice):
    one, two = two_clients
    second = refresh(two, _login(one)).json

    third = refresh(one, second)

    assert third.status_code == 200


def test_reuse_after_the_grace_window_revokes_the_whole_session(
    two_clients, alice, monkeypatch
):
    one, two = two_clients
    first = _login(one)
    newest = refresh(one, first).json
    move_clock(monkeypatch, 11)

    reused = refresh(two, first)

    assert reused.status_code == 401
    assert reused.json["code"] == "token_reused"
    assert 'error="invalid_token"' in reused.headers["WWW-Authenticate"]
    assert refresh(one, newest).json["code"] == "token_revoked"
    assert me(two, newest).json["code"] == "token_revoked"
    assert me(one, first).json["code"] == "token_revoked"


def test_reuse_does_not_touch_the_users_other_sessions(two_clients, alice, monkeypatch):
    one, two = two_clients
    laptop, phone = _login(one), _login(two)
    refresh(one, laptop)
    move_clock(monkeypatch, 60)

    refresh(one, laptop)

    assert me(two, phone).status_code == 200


def test_a_second_refresh_within_the_grace_window_gets_a_pair_for_the_same_session(
    two_clients, alice, monkeypatch
):
    one, two = two_clients
    first = _login(one)
    tab_a = refresh(one, first).json
    # 5 of the 10 s: real seconds pass between the two refreshes on a loaded
    # machine, and 9 left only one of them.
    move_clock(monkeypatch, 5)

    tab_b = refresh(two, first)

    assert tab_b.status_code == 200
    assert me(two, tab_b.json).status_code == 200
    assert me(one, tab_a).status_code == 200
    sessions = one.get(f"{API}/auth/sessions", headers=_bearer(tab_b.json)).json
    assert sessions["total"] == 1


def test_the_grace_window_is_configurable(make_app, monkeypatch):
    strict = make_app(JWT_REFRESH_GRACE=0).test_client()
    strict.post(
        f"{API}/auth/register", json={"username": "alice", "password": PASSWORD}
    )
    first = _login(strict)
    refresh(strict, first)
    move_clock(monkeypatch, 1)

    response = refresh(strict, first)

    assert response.json["code"] == "token_reused"


def test_an_expired_refresh_token_is_token_expired(two_clients, alice, monkeypatch):
    one, _ = two_clients
    pair = _login(one)
    move_clock(monkeypatch, 14 * 24 * 3600 + 60)

    response = refresh(one, pair)

    assert response.status_code == 401
    assert response.json["code"] == "token_expired"


def test_an_access_token_expires_after_15_minutes(two_clients, alice, monkeypatch):
    one, _ = two_clients
    pair = _login(one)
    move_clock(monkeypatch, 15 * 60 + 11)

    response = me(one, pair)

    assert response.json["code"] == "token_expired"
    assert refresh(one, pair).status_code == 200


@pytest.mark.parametrize(
    "body", [{}, {"refresh_token": ""}, {"refresh_token": 5}, {"extra": 1}]
)
def test_refresh_with_a_bad_body_is_422(two_clients, body):
    one, _ = two_clients

    response = one.post(f"{API}/auth/refresh", json=body)

    assert response.status_code == 422
    assert response.json["code"] == "validation_error"


def test_refresh_with_garbage_is_invalid_token(two_clients):
    one, _ = two_clients

    response = one.post(f"{API}/auth/refresh", json={"refresh_token": "x.y.z"})

    assert response.json["code"] == "invalid_token"


def _bearer(pair):
    return {"Authorization": f"Bearer {pair['access_token']}"}
