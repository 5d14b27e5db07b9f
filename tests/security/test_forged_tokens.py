import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bookstore.security import keys, tokens
from tests.auth.helpers import API, me
from tests.security.forge import (
    claims_of,
    eddsa,
    header_of,
    hs256,
    okp_jwk,
    unsigned,
)

ME = f"{API}/users/me"
REFRESH = f"{API}/auth/refresh"


@pytest.fixture
def pair(user, login):
    return login("alice")


@pytest.fixture
def signing(app):
    with app.app_context():
        key = keys.keyring().current
    return key.kid, key.sign_key


def _assert_invalid(response, code="invalid_token"):
    assert response.status_code == 401, response.json
    assert response.json["code"] == code
    assert f'error="{"invalid_token"}"' in response.headers["WWW-Authenticate"]


def _sign(signing, claims, **header):
    kid, secret = signing
    return jwt.encode(claims, secret, algorithm="HS256", headers={"kid": kid, **header})


def test_a_correctly_signed_forgery_is_accepted_so_the_other_tests_mean_something(
    client, pair, signing
):
    token = _sign(signing, claims_of(pair["access_token"]))

    assert me(client, token).status_code == 200


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("signature", ["", "c2lnbmF0dXJl"])
def test_alg_none_in_any_casing_is_refused(client, pair, signing, alg, signature):
    header = {"alg": alg, "typ": "JWT", "kid": signing[0]}
    token = unsigned(header, claims_of(pair["access_token"]), signature)

    _assert_invalid(me(client, token))


@pytest.mark.parametrize("alg", [None, "", ["HS256"], "HS512", "RS256", "EdDSA"])
def test_other_alg_headers_are_refused(client, pair, signing, alg):
    header = {"alg": alg, "typ": "JWT", "kid": signing[0]}
    token = hs256(header, claims_of(pair["access_token"]), signing[1].encode())

    _assert_invalid(me(client, token))


def test_a_token_signed_with_another_key_is_refused(client, pair, signing):
    token = _sign((signing[0], "attacker-" * 8), claims_of(pair["access_token"]))

    _assert_invalid(me(client, token))


@pytest.mark.parametrize("claim", tokens.REQUIRED_CLAIMS)
def test_a_token_missing_any_required_claim_is_refused(client, pair, signing, claim):
    claims = claims_of(pair["access_token"])
    del claims[claim]

    _assert_invalid(me(client, _sign(signing, claims)))


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("iss", "someone-else"),
        ("aud", "another-api"),
        ("aud", ["another-api"]),
        ("sub", "not-a-uuid"),
        ("sub", 42),
        ("sid", "00000000-0000-0000-0000-000000000000"),
        ("sid", ["x"]),
        ("jti", 7),
        ("type", "ACCESS"),
        ("type", None),
        ("exp", "9999999999"),
        ("exp", True),
        ("nbf", "0"),
        ("iat", None),
    ],
)
def test_a_token_with_a_wrong_claim_is_refused(client, pair, signing, claim, value):
    claims = {**claims_of(pair["access_token"]), claim: value}

    response = me(client, _sign(signing, claims))

    assert response.status_code == 401
    assert response.json["code"] in ("invalid_token", "token_revoked")


def test_a_token_of_another_user_in_my_session_is_refused(
    client, pair, signing, other_user
):
    claims = {**claims_of(pair["access_token"]), "sub": other_user["id"]}

    _assert_invalid(me(client, _sign(signing, claims)), "token_revoked")


def test_an_expired_token_beyond_the_leeway_is_token_expired(client, pair, signing):
    now = int(time.time())
    claims = {**claims_of(pair["access_token"]), "iat": now - 100, "nbf": now - 100}

    response = me(client, _sign(signing, {**claims, "exp": now - 11}))
    within_leeway = me(client, _sign(signing, {**claims, "exp": now - 3}))

    _assert_invalid(response, "token_expired")
    assert within_leeway.status_code == 200


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_a_token_from_the_future_is_refused(client, pair, signing, claim):
    claims = {**claims_of(pair["access_token"]), claim: int(time.time()) + 600}

    _assert_invalid(me(client, _sign(signing, claims)))


def test_a_refresh_token_is_not_an_access_token(client, pair):
    _assert_invalid(me(client, pair["refresh_token"]))


def test_an_access_token_is_not_a_refresh_token(client, pair):
    response = client.post(REFRESH, json={"refresh_token": pair["access_token"]})

    _assert_invalid(response)


@pytest.mark.parametrize(
    "kid",
    [
        "unknown",
        "../../../../dev/null",
        "/etc/passwd",
        "' OR '1'='1",
        "hs-0000000000000000",
        "k" * 10_000,
        "",
        None,
        0,
        ["hs"],
        {"kid": "x"},
    ],
)
def test_unknown_and_hostile_kids_are_refused(client, pair, signing, kid):
    header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    token = hs256(header, claims_of(pair["access_token"]), signing[1].encode())

    _assert_invalid(me(client, token))


def test_a_token_without_a_kid_is_refused(client, pair, signing):
    token = jwt.encode(claims_of(pair["access_token"]), signing[1], algorithm="HS256")

    _assert_invalid(me(client, token))


def _attacker_key():
    private = ed25519.Ed25519PrivateKey.generate()
    jwk = okp_jwk(private.public_key())
    return private, jwk


@pytest.mark.parametrize("where", ["jwk", "jku", "x5u"])
def test_keys_advertised_in_the_token_header_are_ignored(client, pair, where):
    private, jwk = _attacker_key()
    header = {"kid": jwk["x"][:8]}
    header[where] = jwk if where == "jwk" else "http://127.0.0.1:9/jwks.json"

    token = eddsa(header, claims_of(pair["access_token"]), private)

    _assert_invalid(me(client, token))


def test_our_kid_with_a_header_jwk_still_needs_our_signature(client, pair, signing):
    private, jwk = _attacker_key()
    header = {"kid": signing[0], "jwk": jwk}

    token = eddsa(header, claims_of(pair["access_token"]), private)

    _assert_invalid(me(client, token))


def _respell(token: str, how: str) -> str:
    head, body, signature = token.split(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    if how == "padding":
        signature = base64.urlsafe_b64encode(raw).decode()
    else:
        signature = base64.b64encode(raw).decode().rstrip("=")
    return f"{head}.{body}.{signature}"


@pytest.mark.parametrize("how", ["padding", "alphabet"])
def test_respelled_tokens_do_not_bypass_revocation(client, pair, how):
    variant = _respell(pair["access_token"], how)
    before = me(client, variant).status_code
    client.post(
        f"{API}/auth/logout",
        headers={"Authorization": "Bearer " + variant}
        if before == 200
        else {"Authorization": f"Bearer {pair['access_token']}"},
    )

    after = me(client, variant)

    assert me(client, pair).json["code"] == "token_revoked"
    assert after.status_code == 401
    assert after.json["code"] in ("token_revoked", "invalid_token")


def test_hs256_signed_with_our_published_public_key_is_refused(
    make_app, tmp_path, register
):
    private = ed25519.Ed25519PrivateKey.generate()
    pem = tmp_path / "signing.pem"
    pem.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    app = make_app(JWT_ALGORITHM="EdDSA", JWT_PRIVATE_KEY_FILE=str(pem))
    client = app.test_client()
    client.post(
        f"{API}/auth/register",
        json={"username": "alice", "password": "correct horse battery staple"},
    )
    pair = client.post(
        f"{API}/auth/login",
        json={"username": "alice", "password": "correct horse battery staple"},
    ).json
    jwks = client.get(f"{API}/auth/jwks.json").json
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    kid = header_of(pair["access_token"])["kid"]
    claims = claims_of(pair["access_token"])

    forged = [
        hs256({"alg": "HS256", "typ": "JWT", "kid": kid}, claims, secret)
        for secret in (
            public_pem,
            public_pem.strip(),
            jwks["keys"][0]["x"].encode(),
            json.dumps(jwks["keys"][0]).encode(),
        )
    ]

    assert me(client, pair).status_code == 200
    for token in forged:
        _assert_invalid(me(client, token))


_JWS_TEXT = st.text(
    alphabet=st.sampled_from(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ é\x00"
    ),
    max_size=300,
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(token=st.one_of(_JWS_TEXT, st.text(max_size=300)))
def test_any_token_text_is_a_clean_401(app, token):
    with app.app_context():
        with pytest.raises(tokens.TokenError):
            tokens.decode(token, tokens.ACCESS)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_changed_character_of_a_genuine_token_is_refused(app, pair, data):
    token = pair["access_token"]
    at = data.draw(st.integers(0, len(token) - 1), label="position")
    replacement = data.draw(
        st.sampled_from(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
        ).filter(lambda c: c != token[at]),
        label="replacement",
    )
    changed = token[:at] + replacement + token[at + 1 :]
    with app.app_context():
        with pytest.raises(tokens.TokenError):
            tokens.decode(changed, tokens.ACCESS)


_BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def test_a_signature_respelled_to_the_same_bytes_is_refused(client, pair):
    """An HS256 signature is 43 base64url characters for 32 bytes: the last
    character's two low bits carry nothing, and Python's decoder reads four
    spellings as one MAC. Only the spelling we issued is accepted (keys.py
    compares the text; PyJWT refused them too)."""
    token = pair["access_token"]
    head, body, signature = token.split(".")
    last = _BASE64URL.index(signature[-1])
    respelled = signature[:-1] + _BASE64URL[last ^ 1]
    padded = respelled + "=" * (-len(respelled) % 4)
    assert base64.urlsafe_b64decode(padded) == base64.urlsafe_b64decode(
        signature + "=" * (-len(signature) % 4)
    )

    _assert_invalid(me(client, f"{head}.{body}.{respelled}"))
    assert me(client, token).status_code == 200
