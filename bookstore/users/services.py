"""User management use-cases: visibility, admin changes, deletion."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from bookstore.auth.models import User
from bookstore.errors import NotFound
from bookstore.extensions import db


def get_visible_user(viewer: User, user_id: uuid.UUID) -> User:
    """Return the user if `viewer` is them or an admin; else NotFound (never 403)."""
    if viewer.public_id == user_id:
        return viewer
    user = db.session.scalar(sa.select(User).where(User.public_id == user_id))
    if user is None or not viewer.is_admin:
        raise NotFound("User not found.")
    return user
