"""The token value: `bks_` + 43 random base62 characters + a 6-character checksum.

As GitHub's tokens: a recognisable prefix (secret scanners and our guard spot it),
at least 256 bits of randomness (43 × log2(62) ≈ 256.03), and a CRC32 of the
random part in base62, so a mistyped or truncated token is refused before any
database work. Only the SHA-256 digest is stored: with 256 random bits there is
nothing to guess, so a slow or salted hash would add cost and no safety.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
import zlib

PREFIX = "bks_"
ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
RANDOM_CHARS, CHECKSUM_CHARS = 43, 6
_SHAPE = re.compile(rf"{PREFIX}([0-9A-Za-z]{{{RANDOM_CHARS}}})([0-9A-Za-z]{{6}})")


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, remainder = divmod(number, 62)
        digits.append(ALPHABET[remainder])
    return "".join(reversed(digits))


def _checksum(random_part: str) -> str:
    return _base62(zlib.crc32(random_part.encode()), CHECKSUM_CHARS)


def mint() -> str:
    """A new token value (shown to its owner once, never stored)."""
    random_part = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_CHARS))
    return PREFIX + random_part + _checksum(random_part)


def is_pat(token: str) -> bool:
    """Whether `token` claims to be a personal access token (by its prefix)."""
    return token.startswith(PREFIX)


def well_formed(token: str) -> bool:
    """Whether `token` has the shape and a correct checksum (no database needed)."""
    match = _SHAPE.fullmatch(token)
    return match is not None and _checksum(match[1]) == match[2]


def digest(token: str) -> str:
    """The stored form of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()
