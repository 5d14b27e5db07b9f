"""PersonalAccessToken: one row per token, holding its digest, never its value."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from bookstore import clock
from bookstore.extensions import db


def _now() -> datetime:
    return clock.utcnow()  # looked up at call time, so tests can patch clock.utcnow


class PersonalAccessToken(db.Model):
    __tablename__ = "personal_access_tokens"
    __table_args__ = (
        # Counting and listing a user's live tokens.
        sa.Index(
            "ix_personal_access_tokens_user_id_expires_at", "user_id", "expires_at"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)  # never leaves the database
    public_id: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4, unique=True)
    # Deleting the user deletes their tokens: the guard then finds no row.
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(100))
    scopes: Mapped[str] = mapped_column(sa.String(100))  # space-separated, sorted
    # SHA-256 of the token, hex: the unique index is the guard's lookup.
    token_digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=_now
    )
    expires_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # Deletion through the API sets this (the row stays, so a later use of the
    # token is answered token_revoked and logged, not taken for a typo).
    revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    def __repr__(self) -> str:
        return f"<PersonalAccessToken {self.public_id} user={self.user_id}>"
