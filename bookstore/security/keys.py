"""Signing and verification keys: the app's keyring, built once from its config.

The current key signs; previous HMAC secrets and public key files still verify.
Every key is named by a kid the tokens carry in their header.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app

from bookstore.security import jwtlib
from bookstore.security.jwtlib import jwt
from config import ASYMMETRIC_ALGORITHMS, HMAC_ALGORITHMS

# HS256 → sha256: the digest an HMAC algorithm names.
_HMAC_DIGESTS = {name: f"sha{name[2:]}" for name in HMAC_ALGORITHMS}


@dataclass(frozen=True)
class Key:
    kid: str
    algorithm: str
    verify_key: object
    sign_key: object | None = None  # only the current key signs
    jwk: dict | None = None  # public JWK, for asymmetric keys

    def __post_init__(self) -> None:
        # PyJWT's algorithm object and the key it prepares, once, not per token.
        algorithm = jwt.algorithms.get_default_algorithms()[self.algorithm]
        object.__setattr__(self, "_algorithm", algorithm)
        object.__setattr__(self, "_prepared", algorithm.prepare_key(self.verify_key))
        digest = _HMAC_DIGESTS.get(self.algorithm)
        # An HMAC keyed once: each token's MAC starts from a copy of it.
        keyed = hmac.new(self._prepared, digestmod=digest) if digest else None
        object.__setattr__(self, "_keyed", keyed)

    def signed(self, token: str) -> bool:
        """Whether the compact JWS `token` (base64url segments) carries this
        key's signature.

        An HMAC signature is compared as text, in constant time, with the one
        canonical base64url spelling of the MAC (no decoding, and the MAC from a
        copy of one keyed HMAC: a forged token costs less to refuse). Other
        spellings of the same bytes were refused before too, by PyJWT.
        """
        signing_input, _, signature = token.rpartition(".")
        if self._keyed is not None:
            mac = self._keyed.copy()
            mac.update(signing_input.encode())
            expected = base64.urlsafe_b64encode(mac.digest()).rstrip(b"=")
            return hmac.compare_digest(expected, signature.encode())
        return self._algorithm.verify(
            signing_input.encode(),
            self._prepared,
            jwt.utils.base64url_decode(signature),
        )


class Keyring:
    """The current signing key plus previous keys that still verify."""

    def __init__(self, config) -> None:
        algorithm = config["JWT_ALGORITHM"]
        if algorithm in HMAC_ALGORITHMS:
            current = _hmac_key(config["SECRET_KEY"], algorithm, signs=True)
        elif algorithm in ASYMMETRIC_ALGORITHMS:
            current = _private_key(config["JWT_PRIVATE_KEY_FILE"], algorithm)
        else:
            raise ValueError(f"JWT_ALGORITHM {algorithm!r} is not supported.")
        self.current = current
        self.keys = {current.kid: current}
        for secret in config.get("JWT_PREVIOUS_SECRETS") or []:
            key = _hmac_key(secret, "HS256", signs=False)
            self.keys.setdefault(key.kid, key)
        for path in config.get("JWT_PREVIOUS_PUBLIC_KEY_FILES") or []:
            key = _public_key(path)
            self.keys.setdefault(key.kid, key)

    def jwks(self) -> dict:
        """RFC 7517 key set of the public keys (empty when signing with HMAC)."""
        return {"keys": [key.jwk for key in self.keys.values() if key.jwk]}


def _hmac_key(secret: str, algorithm: str, *, signs: bool) -> Key:
    # The kid is a digest of the secret, so rotating SECRET_KEY changes it by itself.
    kid = "hs-" + hashlib.sha256(b"bookstore-kid:" + secret.encode()).hexdigest()[:16]
    return Key(kid, algorithm, secret, secret if signs else None)


def _serialization():
    """cryptography's PEM loading, and PyJWT's asymmetric algorithms: imported
    only for asymmetric keys (jwtlib.py says why)."""
    jwtlib.asymmetric()
    from cryptography.hazmat.primitives import serialization

    return serialization


def _load(path: str) -> bytes:
    return Path(path).expanduser().read_bytes()


def _asymmetric(public_key, algorithm: str, private_key=None) -> Key:
    jwk = json.loads(
        jwt.algorithms.get_default_algorithms()[algorithm].to_jwk(public_key)
    )
    thumbprint_input = {
        k: jwk[k] for k in sorted(jwk) if k in ("crv", "e", "kty", "n", "x", "y")
    }
    digest = hashlib.sha256(
        json.dumps(thumbprint_input, separators=(",", ":")).encode()
    ).digest()
    kid = jwt.utils.base64url_encode(digest).decode()  # RFC 7638 thumbprint
    jwk.update(kid=kid, alg=algorithm, use="sig")
    return Key(kid, algorithm, public_key, private_key, jwk)


def _private_key(path: str | None, algorithm: str) -> Key:
    if not path:
        raise ValueError(f"JWT_ALGORITHM={algorithm} needs JWT_PRIVATE_KEY_FILE.")
    serialization = _serialization()
    private = serialization.load_pem_private_key(_load(path), password=None)
    return _asymmetric(private.public_key(), algorithm, private)


def _public_key(path: str) -> Key:
    public = _serialization().load_pem_public_key(_load(path))
    name = type(public).__name__
    algorithm = (
        "EdDSA" if "Ed25519" in name else "ES256" if "Elliptic" in name else ("RS256")
    )
    return _asymmetric(public, algorithm)


def keyring(app: Flask | None = None) -> Keyring:
    """The keyring of `app` (default: the current app), built once (parsing PEM
    files is not per-request work)."""
    app = current_app if app is None else app
    cache = app.extensions.setdefault("bookstore", {})
    if "keyring" not in cache:
        cache["keyring"] = Keyring(app.config)
    return cache["keyring"]
