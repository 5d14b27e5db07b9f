"""User management use-cases: visibility, listing, admin changes, deletion."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.exc import InvalidRequestError

from bookstore.auth import sessions
from bookstore.auth.models import User
from bookstore.auth.pats import services as pat_services
from bookstore.errors import Conflict, Forbidden, NotFound
from bookstore.extensions import db
from bookstore.locks import begin_writing
from bookstore.logs import audit


def get_visible_user(viewer: User, user_id: uuid.UUID) -> User:
    """Return the user if `viewer` is them or an admin; else NotFound (never 403)."""
    if viewer.public_id == user_id:
        return viewer
    user = db.session.scalar(sa.select(User).where(User.public_id == user_id))
    if user is None or not viewer.is_admin:
        raise NotFound("User not found.")
    return user


def list_users() -> sa.Select:
    """Every user, oldest first (id breaks ties)."""
    return sa.select(User).order_by(User.created_at, User.id)


def update_user(
    admin: User,
    user_id: uuid.UUID,
    *,
    is_admin: bool | None = None,
    is_active: bool | None = None,
) -> User:
    """Change a user's admin/active flags; disabling revokes sessions and tokens now.

    Raise Conflict when an admin would remove their own admin flag or disable
    themselves, or when the change would leave no active admin; Forbidden when
    the caller stopped being an active admin while the request was under way.
    """
    user = get_visible_user(admin, user_id)
    if user.id == admin.id and (is_admin is False or is_active is False):
        raise Conflict("You cannot remove your own admin rights or disable yourself.")
    admins = _lock_admins(user)
    if admin.id not in admins:
        raise Forbidden("You are no longer an administrator.")
    if is_admin is False or is_active is False:
        _keep_an_admin(admins, user)
    if is_admin is not None:
        user.is_admin = is_admin
    if is_active is not None:
        disabling = user.is_active and not is_active
        user.is_active = is_active
        if disabling:
            sessions.revoke_user_sessions(user, reason="user_disabled", commit=False)
            # For good: re-enabling the user does not revive a token.
            pat_services.revoke_user_tokens(user.id)
    db.session.commit()
    return user


def delete_user(viewer: User, user_id: uuid.UUID) -> None:
    """Delete a user (admin, or the user themself); books and sessions cascade.

    Raise Conflict when the user is the last active admin (themself included).
    """
    user = get_visible_user(viewer, user_id)
    admins = _lock_admins(user)
    if user.id != viewer.id and viewer.id not in admins:
        raise Forbidden("You are no longer an administrator.")
    _keep_an_admin(admins, user)
    public_id = str(user.public_id)
    db.session.execute(sa.delete(User).where(User.id == user.id))
    db.session.commit()
    audit("user_deleted", user_id=public_id, by=str(viewer.public_id))


def _lock_admins(target: User) -> set[int]:
    """Lock the active admins' rows (SQLite: the database) for this transaction;
    return their ids, and reload `target` as it is now (NotFound if gone).

    Two admins demoting each other at once: the second waits for the first's
    commit, then sees one admin left, not two.
    """
    begin_writing()
    admins = set(
        db.session.scalars(
            sa.select(User.id)
            .where(User.is_admin.is_(True), User.is_active.is_(True))
            .order_by(User.id)  # one locking order: no deadlock between two
            .with_for_update()
        )
    )
    try:
        db.session.refresh(target)
    except InvalidRequestError:  # deleted by a concurrent request
        db.session.rollback()
        raise NotFound("User not found.") from None
    return admins


def _keep_an_admin(admins: set[int], leaving: User) -> None:
    """Raise Conflict if `leaving` is the only active admin: once the service has
    had an admin it never has none."""
    if admins == {leaving.id}:
        db.session.rollback()
        raise Conflict(
            "This is the last active admin; promote another user to admin first."
        )
