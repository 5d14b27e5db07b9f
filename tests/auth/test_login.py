import base64

import pytest

from tests.auth.helpers import API, me, set_active
from tests.conftest import PASSWORD

URL = f"{API}/auth/login"


def _basic(username: str, password: str) -> dict:
    raw = f"{username}:{password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def _same_problem(a, b) -> bool:
    strip = lambda r: {k: v for k, v in r.json.items() if k != "request_id"}  # noqa: E731
    return (a.status_code, strip(a), a.headers["WWW-Authenticate"]) == (
        b.status_code,
        strip(b),
        b.headers["WWW-Authenticate"],
    )


def test_login_returns_a_pair_that_is_never_cached(client, user):
    response = client.post(URL, json={"username": "alice", "password": PASSWORD})

    assert response.status_code == 200
    body = response.json
    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "refresh_expires_in",
    }
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["refresh_expires_in"] == 1209600
    assert response.headers["Cache-Control"] == "no-store"


def test_login_username_is_case_insensitive(client, user):
    response = client.post(URL, json={"username": "ALICE", "password": PASSWORD})

    assert response.status_code == 200


def test_login_with_http_basic_credentials(client, user):
    response = client.post(URL, headers=_basic("alice", PASSWORD))

    assert response.status_code == 200
    assert me(client, response.json).json["username"] == "alice"


def test_basic_login_with_a_wrong_password_gets_a_bearer_challenge(client, user):
    response = client.post(URL, headers=_basic("alice", "wrong password!"))

    assert response.status_code == 401
    assert response.json["code"] == "invalid_credentials"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="bookstore"'


def test_login_with_neither_body_nor_basic_credentials_is_401(client, user):
    # The document makes the body optional (Basic may replace it): a request
    # with neither has no credentials, not a malformed body.
    response = client.post(URL)

    assert response.status_code == 401
    assert response.json["code"] == "invalid_credentials"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="bookstore"'


def test_login_with_a_body_that_is_not_json_is_still_415(client, user):
    response = client.post(URL, data="alice:secret", content_type="text/plain")

    assert response.status_code == 415
    assert response.json["code"] == "unsupported_media_type"


@pytest.mark.parametrize("header", ["Basic", "Basic !!!", "Basic " + "QQ=="])
def test_malformed_basic_credentials_never_give_500(client, user, header):
    response = client.post(URL, headers={"Authorization": header})

    assert response.status_code in (400, 401, 415)
    assert response.headers["Content-Type"] == "application/problem+json"


def test_wrong_password_and_unknown_user_get_the_same_answer(client, user):
    wrong = client.post(URL, json={"username": "alice", "password": "not the one!"})
    unknown = client.post(URL, json={"username": "nobody", "password": "not the one!"})

    assert wrong.status_code == 401
    assert wrong.json["code"] == "invalid_credentials"
    assert _same_problem(wrong, unknown)
    # RFC 6750: no error= when the client sent no (bad) token; Bearer, never Basic.
    assert wrong.headers["WWW-Authenticate"] == 'Bearer realm="bookstore"'


def test_unknown_user_is_verified_against_the_dummy_hash(
    app, client, user, monkeypatch
):
    client.post(URL, json={"username": "alice", "password": "warm up the hasher"})
    hasher = app.extensions["bookstore"]["hasher"]
    verified, real = [], hasher._verify_argon2

    def counting(stored, password):
        verified.append(stored)
        return real(stored, password)

    monkeypatch.setattr(hasher, "_verify_argon2", counting)

    response = client.post(URL, json={"username": "nobody", "password": "guess it!"})

    assert response.status_code == 401
    assert verified == [hasher._dummy]


@pytest.mark.parametrize(
    "username", ["ali\x00ce", "\ud800alice", "a" * 256, "alice\n", "ålice"]
)
def test_odd_usernames_at_login_are_invalid_credentials_not_500(client, user, username):
    response = client.post(URL, json={"username": username, "password": PASSWORD})

    assert response.status_code == 401
    assert response.json["code"] == "invalid_credentials"


@pytest.mark.parametrize("password", ["\ud800\udfff-lone", "pass\x00word", "é" * 1024])
def test_odd_passwords_at_login_are_invalid_credentials_not_500(client, user, password):
    response = client.post(URL, json={"username": "alice", "password": password})

    assert response.status_code == 401


@pytest.mark.parametrize(
    "body",
    [{}, {"username": "alice"}, {"password": PASSWORD}, {"username": 1, "password": 2}],
)
def test_login_with_missing_or_mistyped_fields_is_422(client, user, body):
    response = client.post(URL, json=body)

    assert response.status_code == 422
    assert response.json["code"] == "validation_error"


def test_login_with_malformed_json_is_400(client):
    response = client.post(
        URL, data='{"username": ', headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json["code"] == "malformed_json"


def test_disabled_user_cannot_log_in_even_with_the_right_password(app, client, user):
    set_active(app, "alice", False)

    response = client.post(URL, json={"username": "alice", "password": PASSWORD})

    assert response.status_code == 401
    assert response.json["code"] == "invalid_credentials"


def test_disabling_a_user_revokes_their_existing_tokens(app, client, user, login):
    pair = login("alice")
    set_active(app, "alice", False)

    response = me(client, pair)
    refreshed = client.post(
        f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )

    assert response.status_code == 401
    assert response.json["code"] == "token_revoked"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert refreshed.json["code"] == "token_revoked"
