"""Personal access tokens: mint, list, revoke (the guard's check is in guard.py)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa

from bookstore import clock
from bookstore.auth.models import User
from bookstore.auth.pats import value
from bookstore.auth.pats.models import PersonalAccessToken
from bookstore.errors import Conflict, NotFound
from bookstore.extensions import db
from bookstore.logs import audit

MAX_LIVE_PER_USER = 100


def create_token(
    owner_id: int, *, name: str, scopes: list[str], expires_in: int
) -> tuple[PersonalAccessToken, str]:
    """Mint a token for user `owner_id`; return its row and its value (shown once).

    Raise Conflict when the user already has MAX_LIVE_PER_USER live tokens.
    """
    now = clock.utcnow()
    secret = value.mint()
    token = PersonalAccessToken(
        user_id=owner_id,
        name=name,
        scopes=" ".join(sorted(set(scopes))),
        token_digest=value.digest(secret),
        created_at=now,
        expires_at=now + timedelta(seconds=expires_in),
    )
    # The user's row lock (PostgreSQL) serialises concurrent mints for one user;
    # on SQLite the INSERT takes the database's write lock. Counting after our
    # own INSERT, under that lock, makes the limit exact under races.
    owner = db.session.scalar(
        sa.select(User.public_id).where(User.id == owner_id).with_for_update()
    )
    db.session.add(token)
    db.session.flush()
    if _live_count(owner_id, now) > MAX_LIVE_PER_USER:
        db.session.rollback()
        raise Conflict(
            f"You already have {MAX_LIVE_PER_USER} live personal access tokens; "
            "delete one first."
        )
    db.session.commit()
    audit(
        "personal_access_token_created",
        user_id=str(owner),
        token_id=str(token.public_id),
        scopes=token.scopes,
    )
    return token, secret


def _live_count(owner_id: int, now) -> int:
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(PersonalAccessToken)
        .where(
            PersonalAccessToken.user_id == owner_id,
            PersonalAccessToken.revoked_at.is_(None),
            PersonalAccessToken.expires_at > now,
        )
    )


def list_tokens(owner_id: int) -> sa.Select:
    """The statement listing the user's live tokens, newest first."""
    return (
        sa.select(PersonalAccessToken)
        .where(
            PersonalAccessToken.user_id == owner_id,
            PersonalAccessToken.revoked_at.is_(None),
            PersonalAccessToken.expires_at > clock.utcnow(),
        )
        .order_by(PersonalAccessToken.created_at.desc(), PersonalAccessToken.id.desc())
    )


def get_own_token(owner_id: int, token_id: uuid.UUID) -> PersonalAccessToken:
    """The user's live token `token_id`; anyone else's, or a dead one, is NotFound."""
    token = db.session.scalar(
        list_tokens(owner_id).where(PersonalAccessToken.public_id == token_id)
    )
    if token is None:
        raise NotFound("Personal access token not found.")
    return token


def revoke_token(owner_id: int, owner_public_id: uuid.UUID, token_id: uuid.UUID):
    """Revoke the user's live token `token_id` (it stops working now); else NotFound."""
    revoked = db.session.execute(
        sa.update(PersonalAccessToken)
        .where(
            PersonalAccessToken.public_id == token_id,
            PersonalAccessToken.user_id == owner_id,
            PersonalAccessToken.revoked_at.is_(None),
            PersonalAccessToken.expires_at > clock.utcnow(),
        )
        .values(revoked_at=clock.utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if not revoked:  # absent, someone else's, already revoked or expired: all alike
        raise NotFound("Personal access token not found.")
    audit(
        "personal_access_token_deleted",
        user_id=str(owner_public_id),
        token_id=str(token_id),
    )


def revoke_user_tokens(owner_id: int) -> None:
    """Revoke every live token of the user, in the caller's transaction."""
    db.session.execute(
        sa.update(PersonalAccessToken)
        .where(
            PersonalAccessToken.user_id == owner_id,
            PersonalAccessToken.revoked_at.is_(None),
        )
        .values(revoked_at=clock.utcnow())
        .execution_options(synchronize_session=False)
    )


def purge_tokens(older_than_days: int = 30) -> int:
    """Delete tokens expired or revoked more than `older_than_days` ago."""
    cutoff = clock.utcnow() - timedelta(days=older_than_days)
    result = db.session.execute(
        sa.delete(PersonalAccessToken).where(
            sa.or_(
                PersonalAccessToken.expires_at < cutoff,
                PersonalAccessToken.revoked_at < cutoff,
            )
        )
    )
    db.session.commit()
    return result.rowcount
