import secrets

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

import config
from bookstore import create_app
from tests.auth.helpers import API, me, refresh
from tests.conftest import PASSWORD
from tests.security.forge import claims_of, header_of

JWKS = f"{API}/auth/jwks.json"


def _pair(client, username="alice"):
    client.post(
        f"{API}/auth/register", json={"username": username, "password": PASSWORD}
    )
    response = client.post(
        f"{API}/auth/login", json={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 200, response.json
    return response.json


def _pem_files(tmp_path, private, name="signing"):
    private_file, public_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.pub"
    private_file.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public_file.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
    )
    return str(private_file), str(public_file)


def test_tokens_name_their_key_and_the_hmac_jwks_is_empty(client, user, login):
    pair = login("alice")

    jwks = client.get(JWKS)

    assert header_of(pair["access_token"])["kid"].startswith("hs-")
    assert header_of(pair["access_token"])["alg"] == "HS256"
    assert jwks.status_code == 200
    assert jwks.json == {"keys": []}


def test_rotating_the_secret_keeps_old_tokens_valid_and_signs_with_the_new_key(
    make_app,
):
    old_secret, new_secret = secrets.token_hex(32), secrets.token_hex(32)
    before = make_app(SECRET_KEY=old_secret).test_client()
    old_pair = _pair(before)

    after = make_app(
        SECRET_KEY=new_secret, JWT_PREVIOUS_SECRETS=[old_secret]
    ).test_client()
    new_pair = refresh(after, old_pair).json

    assert me(after, old_pair).status_code == 200
    assert (
        header_of(new_pair["access_token"])["kid"]
        != header_of(old_pair["access_token"])["kid"]
    )
    jwt.decode(  # the new token is signed by the new key
        new_pair["access_token"],
        new_secret,
        algorithms=["HS256"],
        audience="bookstore-api",
    )
    assert me(after, new_pair).status_code == 200


def test_removing_the_previous_secret_invalidates_its_tokens(make_app):
    old_secret = secrets.token_hex(32)
    old_pair = _pair(make_app(SECRET_KEY=old_secret).test_client())

    retired = make_app(SECRET_KEY=secrets.token_hex(32)).test_client()

    response = me(retired, old_pair)
    assert response.status_code == 401
    assert response.json["code"] == "invalid_token"


@pytest.mark.parametrize(
    ("algorithm", "generate"),
    [
        ("EdDSA", ed25519.Ed25519PrivateKey.generate),
        ("RS256", lambda: rsa.generate_private_key(65537, 2048)),
        ("ES256", lambda: ec.generate_private_key(ec.SECP256R1())),
    ],
)
def test_a_third_party_verifies_our_tokens_with_only_the_jwks(
    make_app, tmp_path, algorithm, generate
):
    private_file, _ = _pem_files(tmp_path, generate())
    client = make_app(
        JWT_ALGORITHM=algorithm, JWT_PRIVATE_KEY_FILE=private_file
    ).test_client()
    pair = _pair(client)

    jwks = client.get(JWKS).json
    key_set = jwt.PyJWKSet.from_dict(jwks)
    kid = header_of(pair["access_token"])["kid"]
    claims = jwt.decode(
        pair["access_token"],
        key_set[kid].key,
        algorithms=[algorithm],
        audience="bookstore-api",
        issuer="bookstore",
    )

    assert [(k["kid"], k["alg"], k["use"]) for k in jwks["keys"]] == [
        (kid, algorithm, "sig")
    ]
    assert "d" not in jwks["keys"][0]  # never the private part
    assert claims["type"] == "access"
    assert me(client, pair).status_code == 200


def test_an_asymmetric_key_rotation_publishes_both_keys(make_app, tmp_path):
    old_private, old_public = _pem_files(tmp_path, ed25519.Ed25519PrivateKey.generate())
    new_private, _ = _pem_files(tmp_path, ed25519.Ed25519PrivateKey.generate(), "new")
    old_pair = _pair(
        make_app(JWT_ALGORITHM="EdDSA", JWT_PRIVATE_KEY_FILE=old_private).test_client()
    )

    rotated = make_app(
        JWT_ALGORITHM="EdDSA",
        JWT_PRIVATE_KEY_FILE=new_private,
        JWT_PREVIOUS_PUBLIC_KEY_FILES=[old_public],
    ).test_client()
    new_pair = refresh(rotated, old_pair).json
    jwks = rotated.get(JWKS).json

    assert me(rotated, old_pair).status_code == 200
    assert me(rotated, new_pair).status_code == 200
    kids = {k["kid"] for k in jwks["keys"]}
    assert kids == {
        header_of(old_pair["access_token"])["kid"],
        header_of(new_pair["access_token"])["kid"],
    }


def test_an_hmac_token_is_refused_once_we_sign_with_eddsa(make_app, tmp_path):
    private_file, _ = _pem_files(tmp_path, ed25519.Ed25519PrivateKey.generate())
    hmac_pair = _pair(make_app(SECRET_KEY="s" * 64).test_client())

    eddsa = make_app(
        SECRET_KEY="s" * 64, JWT_ALGORITHM="EdDSA", JWT_PRIVATE_KEY_FILE=private_file
    ).test_client()

    assert me(eddsa, hmac_pair).json["code"] == "invalid_token"
    assert claims_of(hmac_pair["access_token"])["type"] == "access"


def _production(**overrides):
    return create_app(
        "production",
        SECRET_KEY=secrets.token_hex(32),
        SQLALCHEMY_DATABASE_URI="sqlite://",
        **overrides,
    )


@pytest.mark.parametrize("algorithm", ["EdDSA", "RS256", "ES256"])
def test_production_refuses_an_asymmetric_algorithm_without_a_key_file(algorithm):
    with pytest.raises(config.ConfigError, match="JWT_PRIVATE_KEY_FILE"):
        _production(JWT_ALGORITHM=algorithm, JWT_PRIVATE_KEY_FILE=None)


def test_production_refuses_a_missing_key_file(tmp_path):
    with pytest.raises(config.ConfigError, match="not a readable file"):
        _production(
            JWT_ALGORITHM="EdDSA", JWT_PRIVATE_KEY_FILE=str(tmp_path / "nope.pem")
        )


@pytest.mark.parametrize("algorithm", ["none", "HS1", "PS256", ""])
def test_production_refuses_an_unsupported_algorithm(algorithm):
    with pytest.raises(config.ConfigError, match="JWT_ALGORITHM"):
        _production(JWT_ALGORITHM=algorithm)


def test_production_starts_with_an_eddsa_key_file(tmp_path):
    private_file, _ = _pem_files(tmp_path, ed25519.Ed25519PrivateKey.generate())

    app = _production(JWT_ALGORITHM="EdDSA", JWT_PRIVATE_KEY_FILE=private_file)

    assert app.config["JWT_ALGORITHM"] == "EdDSA"
