"""Cursors of `GET /books?cursor=`: a listing position, sealed for one listing.

A cursor holds the last row's sort value and its row id, the keyset position
the next page starts after. Row ids never leave the database in the clear, so
the position is encrypted as well as authenticated: AES-SIV (RFC 5297), with a
key derived from SECRET_KEY, and the viewer, the listed owner, the sort and
every filter as associated data. SIV is deterministic (no nonce to draw or
carry: the same position in the same listing gives the same cursor, which tells
a client nothing it does not know). A cursor that was altered, made under
another key or for another listing fails to open: 400 invalid_query.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson
from flask import current_app

from bookstore.errors import InvalidQuery

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESSIV

_KEY_LABEL = b"bookstore/books-cursor/v1"
_ADVICE = (
    "Use next_cursor as given, with the same sort and filters, or start again "
    "with an empty cursor."
)
MAX_CURSOR_LENGTH = 4096  # a 200-character title folds to 600: still well below


@dataclass(frozen=True)
class Position:
    """The last row of a page, in its sort: (sort value, row id)."""

    value: str | int | datetime
    row_id: int


def _cipher() -> AESSIV:
    """The app's cursor cipher (AES-SIV), keyed once per SECRET_KEY."""
    app = current_app._get_current_object()
    secret = app.config["SECRET_KEY"]
    kept = app.extensions.get("bookstore.cursor_cipher")
    if kept is None or kept[0] != secret:
        # A key of its own, derived rather than reused: a cursor can never be
        # mistaken for a token signed with SECRET_KEY, nor the reverse.
        key = hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha512).digest()
        # Imported here: only cursor pages need cryptography, and a worker that
        # serves none is spared it (bench/README.md, "Worker memory").
        from cryptography.hazmat.primitives.ciphers.aead import AESSIV

        kept = app.extensions["bookstore.cursor_cipher"] = (secret, AESSIV(key))
    return kept[1]


def _context(scope: dict) -> bytes:
    return orjson.dumps(scope, option=orjson.OPT_SORT_KEYS)


def seal(position: Position, scope: dict) -> str:
    """The opaque cursor for `position` in the listing described by `scope`."""
    value = position.value
    if isinstance(value, datetime):  # SQLite hands back naive UTC timestamps
        value = value.replace(tzinfo=value.tzinfo or UTC).isoformat()
    plain = orjson.dumps([value, position.row_id])
    return _encode(_cipher().encrypt(plain, [_context(scope)]))


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def open_(cursor: str, scope: dict, *, timestamp: bool) -> Position:
    """The position inside `cursor`; raise InvalidQuery if it is not one of ours
    for this very listing (`timestamp`: the sort value is a created_at)."""
    from cryptography.exceptions import InvalidTag  # as in _cipher(): cursors only

    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if _encode(raw) != cursor:  # stray characters, other padding bits
            raise ValueError("not canonical base64url")
        plain = _cipher().decrypt(raw, [_context(scope)])
    except (binascii.Error, ValueError, InvalidTag):
        raise InvalidQuery(
            "The cursor is invalid, or was made for other sort or filter parameters.",
            errors={"cursor": [_ADVICE]},
        ) from None
    value, row_id = orjson.loads(plain)
    if timestamp:
        value = datetime.fromisoformat(value)
    return Position(value, row_id)
