"""Password-reset tokens: only their digests are stored."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from bookstore.extensions import db


class PasswordResetToken(db.Model):
    __tablename__ = "password_reset_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # SHA-256 of the token: a leaked table gives no usable token (the token has
    # 256 random bits, so an unsalted fast hash is enough).
    token_digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # SHA-256 of the user's password hash when the token was issued: any later
    # password change (salted hashes always differ) makes the token dead.
    password_fingerprint: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
