"""The JWT service: issues and verifies access and refresh tokens.

With keys.py (the keyring), the only user of `jwt` (imported by jwtlib.py). Every
token names its signing key in the `kid` header; verification looks the key (and
its pinned algorithm) up by kid, never by anything else the token says about
itself.
"""

from __future__ import annotations

import binascii
import json
import math
import re
import uuid
from datetime import datetime

from flask import Flask, current_app

from bookstore import clock, memo
from bookstore.errors import Unauthorized
from bookstore.security.jwtlib import jwt
from bookstore.security.keys import Key, Keyring, keyring

ACCESS, REFRESH = "access", "refresh"
# Token string -> claims of a token that passed every check but the session's.
# A client sends the same access token for 15 minutes, so this skips re-parsing
# and re-verifying it; times and type are still checked on every request, the
# session by the guard. Exact strings only: another spelling of a token is a
# miss and is verified in full.
VERIFIED, VERIFIED_CACHE_SIZE = "tokens.verified", 1024
# Header segment -> the key its kid names. Every token we issue with one key has
# the same header, so the kid is decoded once, not per request.
HEADERS, HEADER_CACHE_SIZE = "tokens.headers", 64
REQUIRED_CLAIMS = ["iss", "aud", "sub", "iat", "nbf", "exp", "jti", "type", "sid"]
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
    app = current_app._get_current_object()  # one context lookup for all below
    cfg, verified = app.config, memo.cache(VERIFIED, VERIFIED_CACHE_SIZE, app)
    claims = verified.get(token)
    known = claims is not None
    if not known:
        claims = _verify(token, app)
    _check_times(claims, clock.utcnow().timestamp(), cfg["JWT_LEEWAY"])
    if claims["type"] != expected_type:
        raise TokenError(f"This endpoint needs a token of type {expected_type!r}.")
    if not known:  # kept only once every check here has passed
        verified.remember(token, claims)
    return dict(claims)  # callers get a copy; the cached claims stay untouched


# Undecodable base64, bad UTF-8 or JSON (ValueError), JSON nested past the stack.
_UNREADABLE = (binascii.Error, ValueError, RecursionError)


def _signing_key(token: str, ring: Keyring, headers: memo.Memo) -> Key:
    """The keyring's key named by the token's `kid` header; TokenError if none.

    Reads only the header's kid (PyJWT's parser checks the whole token character
    by character in Python, twice with get_unverified_header: most of a forged
    token's cost). Everything else is PyJWT's to verify.
    """
    if len(token) > MAX_TOKEN_CHARS or not _COMPACT_JWS.fullmatch(token):
        raise TokenError("The token is invalid.")
    segment = token.partition(".")[0]
    key = headers.get(segment)
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
    return key


def _verify(token: str, app: Flask) -> dict:
    """Signature with the kid's pinned algorithm, iss, aud, claim presence/types."""
    headers = memo.cache(HEADERS, HEADER_CACHE_SIZE, app)
    key = _signing_key(token, keyring(app), headers)
    # A forged or tampered token fails here, before any claim is parsed; a genuine
    # one is then verified again, in full, by PyJWT (once per token: see cache).
    try:
        signed = key.signed(token)
    except _UNREADABLE:  # a signature segment that is not base64url
        signed = False
    if not signed:
        raise TokenError("The token is invalid.")
    # A header our key signed: the next token carrying it skips decoding the kid.
    segment = token.partition(".")[0]
    if segment not in headers:
        headers.remember(segment, key)
    try:
        claims = jwt.decode(
            token,
            key.verify_key,
            algorithms=[key.algorithm],  # pinned by our keyring, never by the token
            audience=app.config["JWT_AUDIENCE"],
            issuer=app.config["JWT_ISSUER"],
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
