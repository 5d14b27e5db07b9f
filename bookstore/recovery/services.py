"""Account recovery: ask for a reset code by email, spend it on a new password."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm.attributes import set_committed_value

from bookstore import clock, mail
from bookstore.auth import accounts, sessions
from bookstore.auth.models import User
from bookstore.errors import APIError, ServiceUnavailable
from bookstore.extensions import db
from bookstore.logs import audit
from bookstore.mail import outbox, render
from bookstore.recovery.models import PasswordResetToken
from bookstore.security import passwords

SUBJECT = "Reset your Bookstore password"
CONFIRM_PATH = "/api/v1/auth/password-reset/confirm"


class InvalidResetToken(APIError):
    status, code = 400, "invalid_reset_token"


def require_mail() -> None:
    """Raise ServiceUnavailable when no mail can leave (production, no SMTP_URL)."""
    if not mail.available():
        raise ServiceUnavailable("Account recovery by email is not available.")


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def _searchable(email: str) -> bool:
    # NUL is a DataError on PostgreSQL (a 500); such an address matches nobody.
    return "\x00" not in email and passwords.is_text(email)


# The active accounts with an email, in any case: through ix_users_email_lower.
ACCOUNTS_BY_EMAIL = sa.select(User).where(
    sa.func.lower(User.email) == sa.func.lower(sa.bindparam("email", type_=sa.String)),
    User.is_active.is_(True),
)


def request_reset(email: str, *, request_id: str | None) -> int:
    """Record a reset code and its message for every active account with `email`
    (any case), in one transaction; return how many messages wait (the caller
    wakes the sender; never shown to clients)."""
    email = email.strip()
    if not _searchable(email):
        audit("password_reset_requested", user_id=None)
        return 0
    users = db.session.scalars(ACCOUNTS_BY_EMAIL, {"email": email}).all()
    now = clock.utcnow()
    ttl = current_app.config["PASSWORD_RESET_TTL"]
    expires = now + timedelta(seconds=ttl)
    for user in users:
        code = secrets.token_urlsafe(32)
        db.session.add(
            PasswordResetToken(
                user_id=user.id,
                token_digest=digest(code),
                password_fingerprint=digest(user.password_hash),
                created_at=now,
                expires_at=expires,
            )
        )
        text, html = render.render(
            "password_reset",
            username=user.username,
            code=code,
            lifetime=_lifetime(ttl),
            confirm_url=_confirm_url(),
            request_id=request_id or "-",
        )
        outbox.enqueue(
            recipient=user.email,
            subject=SUBJECT,
            text_body=text,
            html_body=html,
            sender_domain=mail.sender_domain(),
            request_id=request_id,
            expires_at=expires,
        )
    if users:
        _purge_spent(users, now)
        db.session.commit()
    for user in users or [None]:  # an unknown address is an event too
        audit("password_reset_requested", user_id=user and str(user.public_id))
    return len(users)


def _purge_spent(users: list[User], now) -> None:
    """These users' expired or used codes are of no more use."""
    db.session.execute(
        sa.delete(PasswordResetToken)
        .where(
            PasswordResetToken.user_id.in_([user.id for user in users]),
            sa.or_(
                PasswordResetToken.expires_at < now,
                PasswordResetToken.used_at.is_not(None),
            ),
        )
        .execution_options(synchronize_session=False)
    )


def _lifetime(seconds: int) -> str:
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def _confirm_url() -> str:
    """Absolute from PUBLIC_URL when set, else the path: never the request's Host."""
    base = (current_app.config.get("PUBLIC_URL") or "").rstrip("/")
    return base + CONFIRM_PATH


def confirm_reset(
    token: str, *, new_password: str, user_agent: str | None
) -> sessions.TokenPair:
    """Spend `token` on `new_password`: every session ends, one new one starts.

    Raise InvalidResetToken (unknown, used, expired, or issued before the last
    password change) or ValidationFailed (register's password policy). The token
    is spent by a conditional UPDATE: of two concurrent confirms, one wins.
    """
    invalid = InvalidResetToken("The reset code is invalid or has expired.")
    row = db.session.execute(
        sa.select(PasswordResetToken, User)
        .join(User, User.id == PasswordResetToken.user_id)
        .where(PasswordResetToken.token_digest == digest(token))
    ).first()
    now = clock.utcnow()
    if row is None:
        audit("password_reset_refused", user_id=None)
        raise invalid
    reset, user = row
    if (
        reset.used_at is not None
        or clock.as_utc(reset.expires_at) <= now
        or reset.password_fingerprint != digest(user.password_hash)
        or not user.is_active
    ):
        audit("password_reset_refused", user_id=str(user.public_id))
        raise invalid
    accounts.check_password_policy(new_password, user.username, "new_password")
    old_hash = user.password_hash
    new_hash = accounts.hasher().hash(new_password)
    spent = db.session.execute(
        sa.update(PasswordResetToken)
        .where(PasswordResetToken.id == reset.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    # The password must still be the one the token was issued against: a change
    # racing this confirm wins, and the token loses.
    changed = db.session.execute(
        sa.update(User)
        .where(User.id == user.id, User.password_hash == old_hash)
        .values(password_hash=new_hash, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if spent != 1 or changed != 1:
        db.session.rollback()
        audit("password_reset_refused", user_id=str(user.public_id))
        raise invalid
    set_committed_value(user, "password_hash", new_hash)  # written above
    sessions.revoke_user_sessions(user, reason="password_reset", commit=False)
    pair = sessions.start_session(user, user_agent=user_agent)  # commits it all
    audit("password_reset_completed", user_id=str(user.public_id))
    return pair
