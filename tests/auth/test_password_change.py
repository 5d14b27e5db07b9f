import pytest

from tests.auth.conftest import login_on
from tests.auth.helpers import API, me, refresh
from tests.conftest import PASSWORD

URL = f"{API}/users/me/password"
NEW = "a brand new passphrase"


def _bearer(pair):
    return {"Authorization": f"Bearer {pair['access_token']}"}


def test_password_change_returns_a_new_pair_and_revokes_every_other_session(
    two_clients, alice
):
    one, two = two_clients
    here, elsewhere = login_on(one), login_on(two)

    response = two.put(
        URL,
        json={"current_password": PASSWORD, "new_password": NEW},
        headers=_bearer(here),
    )

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert set(response.json) == set(here)
    assert me(one, response.json).status_code == 200
    assert refresh(two, response.json).status_code == 200
    for pair in (here, elsewhere):
        assert me(one, pair).json["code"] == "token_revoked"
        assert refresh(two, pair).json["code"] == "token_revoked"


def test_after_a_password_change_only_the_new_password_logs_in(two_clients, alice):
    one, two = two_clients
    one.put(
        URL,
        json={"current_password": PASSWORD, "new_password": NEW},
        headers=_bearer(login_on(one)),
    )

    old = two.post(
        f"{API}/auth/login", json={"username": "alice", "password": PASSWORD}
    )
    new = two.post(f"{API}/auth/login", json={"username": "alice", "password": NEW})

    assert old.status_code == 401
    assert new.status_code == 200


def test_a_wrong_current_password_is_invalid_credentials(two_clients, alice):
    one, _ = two_clients
    pair = login_on(one)

    response = one.put(
        URL,
        json={"current_password": "not my password", "new_password": NEW},
        headers=_bearer(pair),
    )

    assert response.status_code == 401
    assert response.json["code"] == "invalid_credentials"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="bookstore"'
    assert me(one, pair).status_code == 200


@pytest.mark.parametrize(
    "new_password",
    ["short", "x" * 129, "password1", "ALICE", "zzzzzzzz", "98765432", "ALICE2024"],
)
def test_the_new_password_follows_the_register_policy(two_clients, alice, new_password):
    one, _ = two_clients
    pair = login_on(one)

    response = one.put(
        URL,
        json={"current_password": PASSWORD, "new_password": new_password},
        headers=_bearer(pair),
    )

    assert response.status_code == 422
    assert response.json["code"] == "validation_error"
    assert "new_password" in response.json["errors"]
    assert me(one, pair).status_code == 200


def test_the_new_password_must_not_equal_the_username(make_app):
    client = make_app().test_client()
    client.post(
        f"{API}/auth/register", json={"username": "longname", "password": PASSWORD}
    )
    pair = login_on(client, "longname")

    response = client.put(
        URL,
        json={"current_password": PASSWORD, "new_password": "LongName"},
        headers=_bearer(pair),
    )

    assert response.status_code == 422
    assert "username" in response.json["errors"]["new_password"][0]


@pytest.mark.parametrize(
    "body",
    [{}, {"current_password": PASSWORD}, {"new_password": NEW}, {"x": 1}],
)
def test_a_malformed_password_change_body_is_422(two_clients, alice, body):
    one, _ = two_clients

    response = one.put(URL, json=body, headers=_bearer(login_on(one)))

    assert response.status_code == 422


def test_password_change_needs_a_token(two_clients):
    one, _ = two_clients

    response = one.put(URL, json={"current_password": PASSWORD, "new_password": NEW})

    assert response.json["code"] == "missing_token"
