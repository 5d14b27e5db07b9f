"""The outbox: mail recorded with the change that asks for it, sent afterwards."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from bookstore import clock
from bookstore.extensions import db

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"


def _now() -> datetime:
    return clock.utcnow()


class OutboxMessage(db.Model):
    """One message to one recipient, and where its delivery stands."""

    __tablename__ = "mail_outbox"
    __table_args__ = (
        # The senders' question, asked every poll: what is due now?
        sa.Index("ix_mail_outbox_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=_now
    )
    status: Mapped[str] = mapped_column(sa.String(10), default=PENDING)
    recipient: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(200))
    message_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    request_id: Mapped[str | None] = mapped_column(sa.String(128))
    # The bodies may hold a secret (a reset code): cleared once the message is
    # sent or has failed, so the table keeps it only while it must.
    text_body: Mapped[str | None] = mapped_column(sa.Text)
    html_body: Mapped[str | None] = mapped_column(sa.Text)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=_now
    )
    # Past this, the message is useless (its code has expired): failed, not sent.
    expires_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # The claim: which sender holds the row (or made the last attempt), and until
    # when (a lease, so a row whose sender died is claimed again).
    claimed_by: Mapped[str | None] = mapped_column(sa.String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    sent_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
