"""The outbox table's operations: enqueue in the caller's transaction, claim
atomically, record the outcome of each attempt, count, purge."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa

from bookstore import clock
from bookstore.extensions import db
from bookstore.mail.models import FAILED, PENDING, SENDING, SENT, OutboxMessage

# A claim must outlive any send: about a dozen SMTP steps, each up to SMTP_TIMEOUT.
LEASE_PER_TIMEOUT = 12
MAX_BACKOFF = 600
_t = OutboxMessage.__table__


def enqueue(
    *,
    recipient: str,
    subject: str,
    text_body: str,
    html_body: str,
    sender_domain: str,
    request_id: str | None = None,
    expires_at: datetime | None = None,
) -> OutboxMessage:
    """Add a message to the session; it is committed with the caller's change."""
    message = OutboxMessage(
        recipient=recipient,
        subject=subject,
        text_body=text_body,
        html_body=html_body,
        # Fixed at enqueue, so a receiver can tell a retry from a new message.
        message_id=f"<{uuid.uuid4().hex}@{sender_domain}>",
        request_id=request_id,
        expires_at=expires_at,
        next_attempt_at=clock.utcnow(),
    )
    db.session.add(message)
    return message


def _claimable(now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(
        sa.and_(_t.c.status == PENDING, _t.c.next_attempt_at <= now),
        # A sender that died mid-send: its lease runs out and the row is due again.
        sa.and_(_t.c.status == SENDING, _t.c.claimed_until < now),
    )


def any_due() -> bool:
    """Whether a claim would find something: a read, so idle polls take no lock."""
    now = clock.utcnow()
    return (
        db.session.scalar(sa.select(_t.c.id).where(_claimable(now)).limit(1))
        is not None
    )


def claim(worker: str, *, limit: int, timeout: int) -> list[sa.Row]:
    """Claim up to `limit` due messages for `worker`, atomically, and commit.

    PostgreSQL: the candidates are locked FOR UPDATE SKIP LOCKED, so concurrent
    senders take disjoint rows without waiting on each other. SQLite (which ignores
    FOR UPDATE) runs one writer at a time, and the UPDATE re-checks the claimable
    condition itself: a row another sender took is no longer claimable.
    """
    now = clock.utcnow()
    candidates = (
        sa.select(_t.c.id)
        .where(_claimable(now))
        .order_by(_t.c.next_attempt_at, _t.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = db.session.execute(
        sa.update(_t)
        .where(_t.c.id.in_(candidates.scalar_subquery()), _claimable(now))
        .values(
            status=SENDING,
            claimed_by=worker,
            claimed_until=now + timedelta(seconds=LEASE_PER_TIMEOUT * timeout),
            attempts=_t.c.attempts + 1,
        )
        .returning(
            _t.c.id,
            _t.c.recipient,
            _t.c.subject,
            _t.c.message_id,
            _t.c.request_id,
            _t.c.text_body,
            _t.c.html_body,
            _t.c.attempts,
            _t.c.expires_at,
        )
    ).all()
    db.session.commit()
    return rows


def _finish(message_id: int, worker: str, **values) -> bool:
    """Record an outcome, only if `worker` still holds the claim (claimed_by
    stays: which sender made the last attempt)."""
    result = db.session.execute(
        sa.update(_t)
        .where(_t.c.id == message_id, _t.c.claimed_by == worker, _t.c.status == SENDING)
        .values(claimed_until=None, **values)
    )
    db.session.commit()
    return result.rowcount == 1


def mark_sent(message_id: int, worker: str) -> bool:
    """The server accepted it: sent, and the bodies (a secret) are dropped."""
    return _finish(
        message_id,
        worker,
        status=SENT,
        sent_at=clock.utcnow(),
        text_body=None,
        html_body=None,
    )


def mark_failed(message_id: int, worker: str, error: str) -> bool:
    """No more attempts: failed for good, and the bodies are dropped."""
    return _finish(
        message_id,
        worker,
        status=FAILED,
        last_error=error[:500],
        text_body=None,
        html_body=None,
    )


def retry_delay(attempts: int, base: int) -> int:
    """Seconds before the next attempt after `attempts` failed ones: doubling."""
    return min(base * 2 ** (attempts - 1), MAX_BACKOFF)


def mark_retry(message_id: int, worker: str, error: str, *, delay: int) -> bool:
    """Pending again, due in `delay` seconds."""
    return _finish(
        message_id,
        worker,
        status=PENDING,
        last_error=error[:500],
        next_attempt_at=clock.utcnow() + timedelta(seconds=delay),
    )


def counts() -> dict[str, int]:
    """Messages per state; 'sending' (claimed right now) counts as pending."""
    rows = db.session.execute(
        sa.select(_t.c.status, sa.func.count()).group_by(_t.c.status)
    ).all()
    found = dict(rows)
    return {
        "pending": found.get(PENDING, 0) + found.get(SENDING, 0),
        "sent": found.get(SENT, 0),
        "failed": found.get(FAILED, 0),
    }


def purge(older_than_days: int = 30) -> int:
    """Delete the messages sent or failed that were made more than
    `older_than_days` ago (their bodies are gone already; what is left, a
    recipient's address among it, need not stay for ever); never a pending one."""
    cutoff = clock.utcnow() - timedelta(days=older_than_days)
    result = db.session.execute(
        sa.delete(_t).where(_t.c.status.in_((SENT, FAILED)), _t.c.created_at < cutoff)
    )
    db.session.commit()
    return result.rowcount
