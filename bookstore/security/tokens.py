"""The JWT service: the only module that imports `jwt`.

Issues and verifies access and refresh tokens. Every token names its signing key in
the `kid` header; verification looks the key (and its pinned algorithm) up by kid,
never by anything else the token says about itself.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import math
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from flask import current_app

from bookstore import clock
from bookstore.errors import Unauthorized
from bookstore.memo import remember

ACCESS, REFRESH = "access", "refresh"
VERIFIED_CACHE_SIZE = 1024
HEADER_CACHE_SIZE = 64
REQUIRED_CLAIMS = ["iss", "aud", "sub", "iat", "nbf", "exp", "jti", "type", "sid"]
HMAC_ALGORITHMS = {"HS256", "HS384", "HS512"}
ASYMMETRIC_ALGORITHMS = {"EdDSA", "RS256", "ES256"}
# A compact JWS: three unpadded base64url segments. Ours are under 1 KB; the cap
# keeps a hostile header from costing more than a glance.
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
MAX_TOKEN_CHARS = 4096


class TokenError(Unauthorized):
    """Malformed, forged or otherwise unacceptable token."""

    code = challenge = "invalid_token"


class TokenExpired(TokenError):
    code = "token_expired"
    challenge = "invalid_token"


class TokenRevoked(TokenError):
    code = "token_revoked"
    challenge = "invalid_token"


class TokenReused(TokenError):
    code = "token_reused"
    challenge = "invalid_token"


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

    def signed(self, token: str) -> bool:
        """Whether the compact JWS `token` carries this key's signature."""
        signing_input, _, signature = token.rpartition(".")
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
        # Token string -> claims whose signature, algorithm, iss, aud and presence
        # checks passed. A client sends the same access token for 15 minutes, so
        # this skips re-parsing and re-verifying it; times, type and the session are
        # still checked on every request. Exact strings only: another spelling of a
        # token is a miss and is verified in full.
        self.verified: dict[str, dict] = {}
        # Header segment -> the key its kid names. Every token we issue with one
        # key has the same header, so the kid is decoded once, not per request.
        self.by_header: dict[str, Key] = {}

    def jwks(self) -> dict:
        """RFC 7517 key set of the public keys (empty when signing with HMAC)."""
        return {"keys": [key.jwk for key in self.keys.values() if key.jwk]}


def _hmac_key(secret: str, algorithm: str, *, signs: bool) -> Key:
    # The kid is a digest of the secret, so rotating SECRET_KEY changes it by itself.
    kid = "hs-" + hashlib.sha256(b"bookstore-kid:" + secret.encode()).hexdigest()[:16]
    return Key(kid, algorithm, secret, secret if signs else None)


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
    private = serialization.load_pem_private_key(_load(path), password=None)
    return _asymmetric(private.public_key(), algorithm, private)


def _public_key(path: str) -> Key:
    public = serialization.load_pem_public_key(_load(path))
    name = type(public).__name__
    algorithm = (
        "EdDSA" if "Ed25519" in name else "ES256" if "Elliptic" in name else ("RS256")
    )
    return _asymmetric(public, algorithm)


def keyring() -> Keyring:
    """This app's keyring, built once (parsing PEM files is not per-request work)."""
    cache = current_app.extensions.setdefault("bookstore", {})
    if "keyring" not in cache:
        cache["keyring"] = Keyring(current_app.config)
    return cache["keyring"]


def issue(
    token_type: str,
    *,
    subject: str,
    session_id: str,
    expires_at: datetime,
    jti: str | None = None,
) -> str:
    """Return a signed `token_type` token for `subject` in session `session_id`."""
    cfg, key = current_app.config, keyring().current
    now = clock.utcnow()
    claims = {
        "iss": cfg["JWT_ISSUER"],
        "aud": cfg["JWT_AUDIENCE"],
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": expires_at,
        "jti": jti or uuid.uuid4().hex,
        "type": token_type,
        "sid": session_id,
    }
    return jwt.encode(
        claims, key.sign_key, algorithm=key.algorithm, headers={"kid": key.kid}
    )


def decode(token: str, expected_type: str) -> dict:
    """Verify signature, pinned algorithm and every required claim; raise TokenError.

    Raise TokenExpired past `exp` (plus leeway); any other defect is TokenError.
    """
    cfg, ring = current_app.config, keyring()
    claims = ring.verified.get(token)
    if claims is None:
        claims = remember(
            ring.verified, token, _verify(token, ring, cfg), VERIFIED_CACHE_SIZE
        )
    _check_times(claims, clock.utcnow().timestamp(), cfg["JWT_LEEWAY"])
    if claims["type"] != expected_type:
        raise TokenError(f"This endpoint needs a token of type {expected_type!r}.")
    return dict(claims)  # callers get a copy; the cached claims stay untouched


# Undecodable base64, bad UTF-8 or JSON (ValueError), JSON nested past the stack.
_UNREADABLE = (binascii.Error, ValueError, RecursionError)


def _signing_key(token: str, ring: Keyring) -> Key:
    """The keyring's key named by the token's `kid` header; TokenError if none.

    Reads only the header's kid (PyJWT's parser checks the whole token character
    by character in Python, twice with get_unverified_header: most of a forged
    token's cost). Everything else is PyJWT's to verify.
    """
    if len(token) > MAX_TOKEN_CHARS or not _COMPACT_JWS.fullmatch(token):
        raise TokenError("The token is invalid.")
    segment = token.partition(".")[0]
    key = ring.by_header.get(segment)
    if key is not None:
        return key
    try:
        header = json.loads(jwt.utils.base64url_decode(segment))
    except _UNREADABLE:
        raise TokenError("The token is invalid.") from None
    kid = header.get("kid") if isinstance(header, dict) else None
    key = ring.keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise TokenError("The token was signed by an unknown key.")
    return remember(ring.by_header, segment, key, HEADER_CACHE_SIZE)


def _verify(token: str, ring: Keyring, cfg) -> dict:
    """Signature with the kid's pinned algorithm, iss, aud, claim presence/types."""
    key = _signing_key(token, ring)
    # A forged or tampered token fails here, before any claim is parsed; a genuine
    # one is then verified again, in full, by PyJWT (once per token: see cache).
    try:
        signed = key.signed(token)
    except _UNREADABLE:  # a signature segment that is not base64url
        signed = False
    if not signed:
        raise TokenError("The token is invalid.")
    try:
        claims = jwt.decode(
            token,
            key.verify_key,
            algorithms=[key.algorithm],  # pinned by our keyring, never by the token
            audience=cfg["JWT_AUDIENCE"],
            issuer=cfg["JWT_ISSUER"],
            # Times are checked by decode() against the app's clock (tests move it);
            # PyJWT would use the wall clock. Presence is still required here.
            options={
                "require": REQUIRED_CLAIMS,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.InvalidTokenError:
        raise TokenError("The token is invalid.") from None
    if not all(isinstance(claims[name], str) for name in ("sub", "sid", "jti")):
        raise TokenError("The token is invalid.")
    return claims


def _check_times(claims: dict, now: float, leeway: int) -> None:
    """Raise TokenExpired after exp, TokenError before nbf/iat or on non-numbers."""
    times = [claims[name] for name in ("iat", "nbf", "exp")]
    # bool is an int subclass (JSON true is not a time); NaN compares false to all.
    if not all(
        isinstance(t, int | float) and not isinstance(t, bool) and math.isfinite(t)
        for t in times
    ):
        raise TokenError("The token's time claims are malformed.")
    iat, nbf, exp = times
    if nbf > now + leeway or iat > now + leeway:
        raise TokenError("The token is not valid yet.")
    if exp + leeway <= now:
        raise TokenExpired("The token has expired.")
