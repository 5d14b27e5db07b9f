"""The guard's check for a `bks_` token: known, alive, its user active, in scope."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app, request

from bookstore import clock, memo
from bookstore.auth import scopes
from bookstore.auth.identity import Caller
from bookstore.auth.models import User
from bookstore.auth.pats import value
from bookstore.auth.pats.models import PersonalAccessToken
from bookstore.auth.pats.value import is_pat
from bookstore.extensions import db
from bookstore.logs import audit
from bookstore.security.tokens import TokenError, TokenExpired, TokenRevoked

__all__ = ["TokenRef", "authenticate", "is_pat"]

# last_used_at is rewritten only when it is older than this: "to within a minute"
# without a write on every request.
LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class TokenRef:
    """The caller's personal access token as the guard saw it (current_session())."""

    id: int
    user: Caller


# Token value -> its digest, for values that passed the shape and checksum test:
# a program sends the same token all day. Bounded like the JWT service's cache.
DIGESTS, DIGEST_CACHE_SIZE = "pats.digests", 1024


_users, _pats = User.__table__, PersonalAccessToken.__table__
# One indexed query (unique token_digest, joined to users), built once as the
# session check is.
_TOKEN_CHECK = (
    sa.select(
        _users.c.id,
        _users.c.public_id,
        _users.c.is_admin,
        _pats.c.id,
        _pats.c.scopes,
        _pats.c.expires_at,
        _pats.c.last_used_at,
        # One boolean, not two columns: every column read costs every request.
        sa.and_(_users.c.is_active, _pats.c.revoked_at.is_(None)),
    )
    .select_from(_pats.join(_users, _pats.c.user_id == _users.c.id))
    .where(_pats.c.token_digest == sa.bindparam("digest"))
)
_TOUCH = (
    sa.update(_pats)
    .where(
        _pats.c.id == sa.bindparam("token_id"),
        # Conditional: of several workers that saw a stale value, one writes.
        sa.or_(
            _pats.c.last_used_at.is_(None),
            _pats.c.last_used_at < sa.bindparam("stale_before"),
        ),
    )
    .values(last_used_at=sa.bindparam("now"))
)


def authenticate(token: str) -> TokenRef:
    """Check the `bks_` token for the endpoint being served; return who it is.

    Raise TokenError (malformed or unknown), TokenExpired, TokenRevoked (deleted,
    or its user disabled) or scopes.InsufficientScope.
    """
    digests = memo.cache(DIGESTS, DIGEST_CACHE_SIZE)
    digest = digests.get(token)
    if digest is None:
        if not value.well_formed(token):  # a typo costs no database work
            raise TokenError("The personal access token is malformed.")
        digest = digests.remember(token, value.digest(token))
    row = db.session.connection().execute(_TOKEN_CHECK, {"digest": digest}).first()
    if row is None:  # never issued, or its user was deleted
        raise TokenError("The personal access token is invalid.")
    user_id, user_public_id, is_admin, token_id, granted, expires, used, alive = row
    if not alive:
        _audit_revoked_use(token_id, user_public_id)
        raise TokenRevoked("This personal access token has been revoked.")
    now = clock.utcnow()
    if clock.as_utc(expires) <= now:
        raise TokenExpired("This personal access token has expired.")
    needed = scopes.needed(current_app.view_functions.get(request.endpoint))
    if needed is None or needed not in granted.split():
        raise scopes.InsufficientScope(needed)
    if used is None or clock.as_utc(used) < now - LAST_USED_RESOLUTION:
        _touch(token_id, now)
    return TokenRef(token_id, Caller(user_id, user_public_id, is_admin))


def _audit_revoked_use(token_id: int, user_public_id: uuid.UUID) -> None:
    token_public_id, is_active = db.session.execute(
        sa.select(_pats.c.public_id, _users.c.is_active)
        .select_from(_pats.join(_users, _pats.c.user_id == _users.c.id))
        .where(_pats.c.id == token_id)
    ).one()
    audit(
        "personal_access_token_used_after_revocation",
        user_id=str(user_public_id),
        token_id=str(token_public_id),
        reason="deleted" if is_active else "user_disabled",
    )


def _touch(token_id: int, now) -> None:
    """Record a use, at most once a minute per token, in its own transaction."""
    db.session.connection().execute(
        _TOUCH,
        {
            "token_id": token_id,
            "stale_before": now - LAST_USED_RESOLUTION,
            "now": now,
        },
    )
    db.session.commit()
