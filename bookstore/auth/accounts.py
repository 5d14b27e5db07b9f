"""Accounts: register, find, authenticate by password, the password policy."""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from bookstore.auth import sessions
from bookstore.auth.identity import Caller
from bookstore.auth.models import User
from bookstore.errors import Conflict, InvalidCredentials, ValidationFailed
from bookstore.extensions import db
from bookstore.logs import audit
from bookstore.security import passwords
from bookstore.security.tokens import TokenRevoked

USERNAME_MAX = 32  # the column's size: a longer name cannot belong to anyone


def hasher() -> passwords.Hasher:
    """This app's password hasher, built once with the configured parameters."""
    cache = current_app.extensions.setdefault("bookstore", {})
    if "hasher" not in cache:
        cfg = current_app.config
        cache["hasher"] = passwords.Hasher(
            time_cost=cfg["PASSWORD_HASH_TIME_COST"],
            memory_kib=cfg["PASSWORD_HASH_MEMORY_KIB"],
        )
    return cache["hasher"]


def check_password_policy(password: str, username: str, field: str) -> None:
    """Raise ValidationFailed naming `field` when the password breaks the policy."""
    problems = passwords.policy_errors(password, username)
    if problems:
        raise ValidationFailed(
            "The request body failed validation.", errors={field: problems}
        )


def find_user(username: str) -> User | None:
    """Return the user with this username (any case), or None."""
    if not _storable(username):
        return None  # no such user can exist; and NUL would be a 500 on PostgreSQL
    return db.session.scalar(
        sa.select(User).where(User.username_key == username.lower())
    )


def _storable(username: str) -> bool:
    return (
        len(username) <= USERNAME_MAX
        and "\x00" not in username
        and (passwords.is_text(username))
    )


def register_user(
    *, username: str, password: str, email: str | None = None, is_admin: bool = False
) -> User:
    """Create a user (an admin only from the CLI); raise ValidationFailed (policy)
    or Conflict (taken)."""
    if not passwords.USERNAME_PATTERN.fullmatch(username):  # the CLI skips the schema
        raise ValidationFailed(
            "The request body failed validation.",
            errors={"username": [passwords.USERNAME_RULE]},
        )
    check_password_policy(password, username, "password")
    user = User(
        username=username,
        email=email,
        password_hash=hasher().hash(password),
        is_admin=is_admin,
    )
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:  # the unique username_key is the real guard against races
        db.session.rollback()
        raise Conflict("This username is taken.") from None
    audit("user_registered", user_id=str(user.public_id))
    return user


def authenticate(username: str, password: str) -> User:
    """Return the active user with these credentials; raise InvalidCredentials.

    An unknown user costs one hash verification too, so neither the answer nor its
    timing tells whether the username exists.
    """
    user = find_user(username)
    valid = hasher().verify(user.password_hash if user else None, password)
    if not valid or not user.is_active:
        audit("login_failed", user_id=str(user.public_id) if user else None)
        raise InvalidCredentials("The username or password is incorrect.")
    if hasher().needs_rehash(user.password_hash):  # legacy or outdated parameters
        user.password_hash = hasher().hash(password)  # committed with the session
    return user


def load_user(caller: Caller) -> User:
    """The caller's full User row, for the endpoints that show or change it."""
    user = db.session.get(User, caller.id)
    if user is None or not user.is_active:  # deleted or disabled since the guard
        raise TokenRevoked("The token's session has ended; log in again.")
    return user


def change_password(
    user: User, *, current_password: str, new_password: str, user_agent: str | None
) -> sessions.TokenPair:
    """Check the current password, set the new one, revoke every session, start one."""
    if not hasher().verify(user.password_hash, current_password):
        audit("password_change_failed", user_id=str(user.public_id))
        raise InvalidCredentials("The current password is incorrect.")
    check_password_policy(new_password, user.username, "new_password")
    user.password_hash = hasher().hash(new_password)
    sessions.revoke_user_sessions(user, reason="password_changed", commit=False)
    return sessions.start_session(user, user_agent=user_agent)  # commits both
