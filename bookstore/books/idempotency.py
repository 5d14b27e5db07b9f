"""`Idempotency-Key` on `POST /books` (IETF httpapi idempotency-key draft).

books.creates.create_book runs the flow; this module parses the header and
keeps the records. The key row and the book are written in one transaction,
and (user_id, key) is unique: a concurrent retry either sees the finished
response or loses the insert race, rolls back (its book with it) and replays
the winner's response. So no request is ever seen "in progress" and the
draft's 409 is never needed.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa

from bookstore import clock
from bookstore.auth.identity import Caller
from bookstore.books.models import IdempotencyKey
from bookstore.errors import APIError, ValidationFailed
from bookstore.extensions import db

TTL = timedelta(hours=24)
HEADER = "Idempotency-Key"
# 1-255 printable ASCII characters; the draft's sf-string form ("...") is accepted.
_KEY = re.compile(r"[\x20-\x7e]{1,255}")


class InvalidIdempotencyKey(APIError):
    status, code = 400, "bad_request"


@dataclass(frozen=True)
class StoredResponse:
    """An answer as it went out: status, JSON body text and the headers to repeat."""

    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)
    replayed: bool = False


def parse_key(value: str | None) -> str | None:
    """The key from the header value, or None; raise InvalidIdempotencyKey (400)."""
    if value is None:
        return None
    key = value.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':  # structured-field string
        key = key[1:-1]
        if '"' in key or "\\" in key:
            key = ""
    if not _KEY.fullmatch(key) or not key.strip():
        raise InvalidIdempotencyKey(
            f"The {HEADER} header must be 1-255 printable ASCII characters."
        )
    return key


def _canonical(value: object) -> str:
    """Canonical JSON: sorted keys, no spaces, numbers exactly as the client wrote."""
    if isinstance(value, dict):
        items = (f"{json.dumps(k)}:{_canonical(v)}" for k, v in sorted(value.items()))
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_canonical(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value)


def fingerprint(body: object) -> str:
    """sha256 (hex) of the request body in canonical JSON."""
    return hashlib.sha256(_canonical(body).encode()).hexdigest()


@dataclass(frozen=True)
class KeyedRequest:
    """A create sent with an Idempotency-Key: the caller, the key and the
    fingerprint of the body. books.creates.create_book runs the flow; this
    reads and writes the key's record, in the session's transaction."""

    owner: Caller
    key: str
    fingerprint: str

    def replay(self) -> StoredResponse | None:
        """The stored response for the key if it is live; raise ValidationFailed
        (422) when the key was used with another body; None when the key is new."""
        record = db.session.scalar(
            sa.select(IdempotencyKey).where(
                IdempotencyKey.user_id == self.owner.id,
                IdempotencyKey.key == self.key,
                IdempotencyKey.expires_at > clock.utcnow(),
            )
        )
        if record is None:
            return None
        if record.fingerprint != self.fingerprint:
            raise ValidationFailed(
                f"This {HEADER} was already used with a different request body.",
                errors={HEADER: ["Already used with a different request body."]},
            )
        return StoredResponse(
            status=record.status_code,
            body=record.response_body,
            headers=json.loads(record.response_headers),
            replayed=True,
        )

    def free_expired(self) -> None:
        """Delete the key's record if it has expired: it still holds the unique
        (user_id, key) slot."""
        db.session.execute(
            sa.delete(IdempotencyKey).where(
                IdempotencyKey.user_id == self.owner.id,
                IdempotencyKey.key == self.key,
                IdempotencyKey.expires_at <= clock.utcnow(),
            )
        )

    def record(self, response: StoredResponse) -> None:
        """Store `response` under the key for TTL (committed with the book)."""
        now = clock.utcnow()
        db.session.add(
            IdempotencyKey(
                user_id=self.owner.id,
                key=self.key,
                fingerprint=self.fingerprint,
                status_code=response.status,
                response_body=response.body,
                response_headers=json.dumps(response.headers),
                created_at=now,
                expires_at=now + TTL,
            )
        )


def purge_expired() -> int:
    """Delete every expired key; return how many went."""
    result = db.session.execute(
        sa.delete(IdempotencyKey).where(IdempotencyKey.expires_at <= clock.utcnow())
    )
    db.session.commit()
    return result.rowcount
