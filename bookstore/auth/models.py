"""Users: the accounts that own books and log in."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from bookstore import clock
from bookstore.extensions import db


def _now() -> datetime:
    return clock.utcnow()  # looked up at call time, so tests can patch clock.utcnow


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)  # never leaves the database
    public_id: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4, unique=True)
    username: Mapped[str] = mapped_column(sa.String(32))
    # Lower-cased username: the unique key that makes "Alice" and "alice" one account.
    username_key: Mapped[str] = mapped_column(sa.String(32), unique=True)
    email: Mapped[str | None] = mapped_column(sa.String(254))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    is_admin: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    is_active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=_now
    )
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=_now, onupdate=_now
    )

    @validates("username")
    def _set_username_key(self, key: str, username: str) -> str:
        self.username_key = username.lower()
        return username

    def __repr__(self) -> str:
        return f"<User {self.public_id} {self.username!r}>"


# Account recovery finds accounts by email in any case (recovery/services.py):
# an index on the expression it compares. SQLite's reflection cannot read an
# expression index back, so Alembic could not compare it with the models: it is
# DDL beside the table, as the search indexes are (books/search.py), migration
# 0008 creates it and books.search.include_object leaves it out of comparisons.
EMAIL_INDEX = "ix_users_email_lower"
sa.event.listen(
    User.__table__,
    "after_create",  # db.create_all() (the tests) gets it too
    sa.DDL(f"CREATE INDEX {EMAIL_INDEX} ON users (lower(email))"),
)


class AuthSession(db.Model):
    """One login on one device: the unit of revocation and refresh rotation."""

    __tablename__ = "auth_sessions"
    __table_args__ = (
        sa.Index("ix_auth_sessions_user_id_expires_at", "user_id", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4, unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=_now
    )
    last_used_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=_now
    )
    # End of the refresh token's life; slides forward on every rotation.
    expires_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    user_agent: Mapped[str | None] = mapped_column(sa.String(200))
    # The jti of the one refresh token that may be spent now, and of the one spent
    # just before it (accepted again only within the grace window: two tabs).
    refresh_jti: Mapped[str] = mapped_column(sa.String(32))
    previous_refresh_jti: Mapped[str | None] = mapped_column(sa.String(32))
    rotated_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)

    def __repr__(self) -> str:
        return f"<AuthSession {self.public_id} user={self.user_id}>"
