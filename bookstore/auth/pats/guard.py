"""The guard's check for a `bks_` token: known, alive, its user active, in scope.

Alone (`authenticate`), or on a read-only request riding on the view's first
read as a login session's check does (`pending_check`, auth/sessioncheck.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import sqlalchemy as sa
from flask import current_app, g, request

from bookstore import clock, memo
from bookstore.auth import scopes, sessioncheck
from bookstore.auth.identity import Caller
from bookstore.auth.models import User
from bookstore.auth.pats import value
from bookstore.auth.pats.models import PersonalAccessToken
from bookstore.auth.pats.value import is_pat
from bookstore.extensions import db
from bookstore.logs import audit
from bookstore.security.tokens import TokenError, TokenExpired, TokenRevoked

__all__ = ["TokenRef", "authenticate", "is_pat", "pending_check", "record_use"]

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
# session check is. Its row comes back for a revoked token too: that use is
# answered token_revoked and logged, not taken for a typo.
_TOKEN_CHECK = (
    sa.select(
        _users.c.id.label("caller_id"),
        _users.c.public_id.label("caller_public_id"),
        _users.c.is_admin.label("caller_is_admin"),
        _pats.c.id.label("caller_token_id"),
        _pats.c.scopes.label("caller_token_scopes"),
        _pats.c.expires_at.label("caller_token_expires_at"),
        _pats.c.last_used_at.label("caller_token_last_used_at"),
        # One boolean, not two columns: every column read costs every request.
        sa.and_(_users.c.is_active, _pats.c.revoked_at.is_(None)).label(
            "caller_token_alive"
        ),
    )
    .select_from(_pats.join(_users, _pats.c.user_id == _users.c.id))
    .where(_pats.c.token_digest == sa.bindparam("digest"))
)
# Riding in a read: the caller is the token's user, and a revoked token (or a
# disabled user's) reads none of the rows.
PAT = sessioncheck.CheckKind(
    _TOKEN_CHECK,
    sa.select(_pats.c.user_id)
    .where(_pats.c.token_digest == sa.bindparam("digest"))
    .scalar_subquery(),
    gate="caller_token_alive",
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
    digest = _digest(token)
    row = db.session.connection().execute(_TOKEN_CHECK, {"digest": digest}).first()
    ref = _verdict(row, _needed())
    record_use()
    return ref


def pending_check(token: str) -> sessioncheck.Pending | None:
    """The token's check, to ride on the first read of a read-only view that a
    personal access token may call; raise TokenError if it is malformed.

    None when the endpoint refuses every personal access token: authenticate()
    then decides at once, and an unknown or revoked token is still a 401, not a
    403 (the scope is judged only for a live token, after the read).
    """
    digest = _digest(token)
    needed = _needed()
    if needed is None:
        return None
    return sessioncheck.Pending(
        PAT, {"digest": digest}, partial(_verdict, needed=needed)
    )


def record_use() -> None:
    """Write the use the verdict found due (at most once a minute per token)."""
    due = g.pop("token_use_due", None)
    if due is not None:
        _touch(*due)


def _digest(token: str) -> str:
    digests = memo.cache(DIGESTS, DIGEST_CACHE_SIZE)
    digest = digests.get(token)
    if digest is None:
        if not value.well_formed(token):  # a typo costs no database work
            raise TokenError("The personal access token is malformed.")
        digest = digests.remember(token, value.digest(token))
    return digest


def _needed() -> str | None:
    return scopes.needed(current_app.view_functions.get(request.endpoint))


def _verdict(row, needed: str | None) -> TokenRef:
    """Who the check's row (None: no row) says is calling; raise as authenticate.
    A use to record is left in `g` for record_use(), which runs outside the
    view's reads (its write commits)."""
    if row is None:  # never issued, or its user was deleted
        raise TokenError("The personal access token is invalid.")
    if not row.caller_token_alive:
        _audit_revoked_use(row.caller_token_id, row.caller_public_id)
        raise TokenRevoked("This personal access token has been revoked.")
    now = clock.utcnow()
    if clock.as_utc(row.caller_token_expires_at) <= now:
        raise TokenExpired("This personal access token has expired.")
    if needed is None or needed not in row.caller_token_scopes.split():
        raise scopes.InsufficientScope(needed)
    used = row.caller_token_last_used_at
    if used is None or clock.as_utc(used) < now - LAST_USED_RESOLUTION:
        g.token_use_due = (row.caller_token_id, now)
    caller = Caller(row.caller_id, row.caller_public_id, row.caller_is_admin)
    return TokenRef(row.caller_token_id, caller)


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
    """Record a use, at most once a minute per token: in a read-only request
    on PostgreSQL one statement in autocommit (as the request's reads)."""
    sessioncheck.request_connection().execute(
        _TOUCH,
        {
            "token_id": token_id,
            "stale_before": now - LAST_USED_RESOLUTION,
            "now": now,
        },
    )
    db.session.commit()
