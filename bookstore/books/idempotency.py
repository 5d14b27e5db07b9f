"""`Idempotency-Key` on `POST /books` (IETF httpapi idempotency-key draft).

The key row and the book are written in one transaction, and (user_id, key) is
unique: a concurrent retry either sees the finished response or loses the insert
race, rolls back (its book with it) and replays the winner's response. So no
request is ever seen "in progress" and the draft's 409 is never needed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from bookstore import clock
from bookstore.auth.identity import Caller
from bookstore.books.models import Book, IdempotencyKey
from bookstore.books.services import DUPLICATE_ISBN, insert_book, new_book
from bookstore.errors import APIError, Conflict, ValidationFailed
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


def _live_record(user: Caller, key: str) -> IdempotencyKey | None:
    return db.session.scalar(
        sa.select(IdempotencyKey).where(
            IdempotencyKey.user_id == user.id,
            IdempotencyKey.key == key,
            IdempotencyKey.expires_at > clock.utcnow(),
        )
    )


def _replay(record: IdempotencyKey, body_fingerprint: str) -> StoredResponse:
    if record.fingerprint != body_fingerprint:
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


def replay(user: Caller, key: str, body_fingerprint: str) -> StoredResponse | None:
    """The stored response for `key` if it is live; raise ValidationFailed (422)
    when the key was used with another body; None when the key is new."""
    record = _live_record(user, key)
    return None if record is None else _replay(record, body_fingerprint)


def create_once(
    owner: Caller,
    fields: dict,
    *,
    key: str,
    body_fingerprint: str,
    render: Callable[[Book], StoredResponse],
) -> StoredResponse:
    """Create the book and record `render(book)` under `key`, in one transaction.

    Returns the new response, or the winner's when a concurrent request with the
    same key committed first. Raises Conflict (duplicate ISBN) or ValidationFailed.
    """
    now = clock.utcnow()
    # An expired record still holds the unique (user_id, key) slot: free it.
    db.session.execute(
        sa.delete(IdempotencyKey).where(
            IdempotencyKey.user_id == owner.id,
            IdempotencyKey.key == key,
            IdempotencyKey.expires_at <= now,
        )
    )
    book = new_book(owner, fields)
    try:
        insert_book(book)
        response = render(book)
        db.session.add(
            IdempotencyKey(
                user_id=owner.id,
                key=key,
                fingerprint=body_fingerprint,
                status_code=response.status,
                response_body=response.body,
                response_headers=json.dumps(response.headers),
                created_at=now,
                expires_at=now + TTL,
            )
        )
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        # Either a concurrent request with this key won (replay its answer) or
        # the ISBN is taken.
        record = _live_record(owner, key)
        if record is None:
            raise Conflict(DUPLICATE_ISBN) from None
        return _replay(record, body_fingerprint)
    return response


def purge_expired() -> int:
    """Delete every expired key; return how many went."""
    result = db.session.execute(
        sa.delete(IdempotencyKey).where(IdempotencyKey.expires_at <= clock.utcnow())
    )
    db.session.commit()
    return result.rowcount
