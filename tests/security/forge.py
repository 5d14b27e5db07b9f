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


# EdDSA by hand: the app's PyJWT, which this process shares, may not have loaded
# its asymmetric algorithms (bookstore/security/jwtlib.py); an attacker's has.
def eddsa(header: dict, claims: dict, private) -> str:
    """An Ed25519-signed token: what PyJWT's encode(algorithm="EdDSA") makes."""
    signing_input = _segments({"alg": "EdDSA", "typ": "JWT", **header}, claims)
    return f"{signing_input}.{b64(private.sign(signing_input.encode()))}"


def okp_jwk(public) -> dict:
    """The RFC 8037 JWK of an Ed25519 public key."""
    raw = public.public_bytes_raw()
    return {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}
