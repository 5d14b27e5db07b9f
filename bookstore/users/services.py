"""User management use-cases: visibility, listing, admin changes, deletion."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from bookstore.auth import services as auth_services
from bookstore.auth.models import User
from bookstore.auth.pats import services as pat_services
from bookstore.errors import Conflict, NotFound
from bookstore.extensions import db
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
    themselves: the system must not lose its last way in by accident.
    """
    user = get_visible_user(admin, user_id)
    if user.id == admin.id and (is_admin is False or is_active is False):
        raise Conflict("You cannot remove your own admin rights or disable yourself.")
    if is_admin is not None:
        user.is_admin = is_admin
    if is_active is not None:
        disabling = user.is_active and not is_active
        user.is_active = is_active
        if disabling:
            auth_services.revoke_user_sessions(
                user, reason="user_disabled", commit=False
            )
            # For good: re-enabling the user does not revive a token.
            pat_services.revoke_user_tokens(user.id)
    db.session.commit()
    return user


def delete_user(viewer: User, user_id: uuid.UUID) -> None:
    """Delete a user (admin, or the user themself); books and sessions cascade."""
    user = get_visible_user(viewer, user_id)
    public_id = str(user.public_id)
    db.session.execute(sa.delete(User).where(User.id == user.id))
    db.session.commit()
    audit("user_deleted", user_id=public_id, by=str(viewer.public_id))
