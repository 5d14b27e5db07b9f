"""Login sessions: start one, rotate its refresh token, revoke, list, purge."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from bookstore import clock
from bookstore.auth.identity import Caller, SessionRef
from bookstore.auth.models import AuthSession, User
from bookstore.auth.sessioncheck import token_ids
from bookstore.errors import NotFound
from bookstore.extensions import db
from bookstore.logs import audit
from bookstore.security import tokens
from bookstore.security.tokens import TokenExpired, TokenReused, TokenRevoked


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    token_type: str = "Bearer"


def start_session(user: User, *, user_agent: str | None) -> TokenPair:
    """Open a login session for `user` (one transaction) and return its first pair."""
    now = clock.utcnow()
    # Opportunistic purge: this user's dead sessions go when they log in again.
    db.session.execute(
        sa.delete(AuthSession)
        .where(AuthSession.user_id == user.id, AuthSession.expires_at < now)
        # No in-Python evaluation: SQLite hands back naive datetimes.
        .execution_options(synchronize_session=False)
    )
    session = AuthSession(
        user=user,
        created_at=now,
        last_used_at=now,
        expires_at=refresh_expiry(created_at=now, now=now),
        # Printable only: NUL would be a 500 on PostgreSQL, escapes a log hazard.
        user_agent="".join(c for c in (user_agent or "") if c.isprintable())[:200]
        or None,
        refresh_jti=uuid.uuid4().hex,
    )
    db.session.add(session)
    db.session.commit()
    audit(
        "login_succeeded",
        user_id=str(user.public_id),
        session_id=str(session.public_id),
    )
    return _pair(session, session.refresh_jti, session.expires_at)


def refresh_expiry(*, created_at: datetime, now: datetime) -> datetime:
    """When a refresh token issued `now` expires: JWT_REFRESH_TTL from now, but
    never past the session's absolute end, SESSION_MAX_AGE after its login."""
    cfg = current_app.config
    return min(
        now + timedelta(seconds=cfg["JWT_REFRESH_TTL"]),
        clock.as_utc(created_at) + timedelta(seconds=cfg["SESSION_MAX_AGE"]),
    )


def _pair(
    session: AuthSession, refresh_jti: str, refresh_expires: datetime
) -> TokenPair:
    cfg, now = current_app.config, clock.utcnow()
    subject, sid = str(session.user.public_id), str(session.public_id)
    # An access token never outlives its session either.
    refresh_expires = clock.as_utc(refresh_expires)
    access_expires = min(
        now + timedelta(seconds=cfg["JWT_ACCESS_TTL"]), refresh_expires
    )
    return TokenPair(
        access_token=tokens.issue(
            tokens.ACCESS, subject=subject, session_id=sid, expires_at=access_expires
        ),
        expires_in=max(0, round((access_expires - now).total_seconds())),
        refresh_token=tokens.issue(
            tokens.REFRESH,
            subject=subject,
            session_id=sid,
            expires_at=refresh_expires,
            jti=refresh_jti,
        ),
        refresh_expires_in=max(
            # round: microseconds elapsed since expires_at was set would make
            # int() say 1209599 for a fresh 14-day token
            0,
            round((refresh_expires - now).total_seconds()),
        ),
    )


def live_session(subject: str, session_id: str) -> AuthSession:
    """Return the live session `session_id` of user `subject` as an ORM object.

    The refresh path needs the rotation state; raise TokenRevoked if the session or
    user is gone.
    """
    sub, sid = token_ids(subject, session_id)
    session = db.session.scalar(
        sa.select(AuthSession).where(AuthSession.public_id == sid)
    )
    if (
        session is None
        or session.revoked_at is not None
        or session.user.public_id != sub
        or not session.user.is_active
    ):
        raise TokenRevoked("The token's session has ended; log in again.")
    if clock.as_utc(session.expires_at) <= clock.utcnow():  # within the JWT leeway
        raise TokenExpired("The session has expired; log in again.")
    return session


def rotate_refresh(refresh_token: str) -> TokenPair:
    """Spend a refresh token for a new pair, detecting reuse of spent tokens.

    A token spent within JWT_REFRESH_GRACE seconds (two tabs refreshing at once) gets
    a pair for the session's current refresh token; older spent tokens revoke the
    whole session (RFC 9700 §4.14.2).
    """
    claims = tokens.decode(refresh_token, tokens.REFRESH)
    session = live_session(claims["sub"], claims["sid"])
    jti, now = claims["jti"], clock.utcnow()
    cfg = current_app.config
    if jti == session.refresh_jti:
        new_jti = uuid.uuid4().hex
        expires = refresh_expiry(created_at=session.created_at, now=now)
        if expires <= now:  # SESSION_MAX_AGE was lowered below this session's age
            raise TokenExpired("The session has reached its maximum age; log in again.")
        # Compare-and-swap: of two concurrent rotations exactly one wins.
        won = (
            db.session.execute(
                sa.update(AuthSession)
                .where(
                    AuthSession.id == session.id,
                    AuthSession.refresh_jti == jti,
                    AuthSession.revoked_at.is_(None),
                )
                .values(
                    refresh_jti=new_jti,
                    previous_refresh_jti=jti,
                    rotated_at=now,
                    last_used_at=now,
                    expires_at=expires,
                )
                .execution_options(synchronize_session=False)
            ).rowcount
            == 1
        )
        db.session.commit()
        if won:
            return _pair(session, new_jti, expires)
        db.session.refresh(session)  # a concurrent request rotated or revoked it
        if session.revoked_at is not None:
            raise TokenRevoked("The token's session has ended; log in again.")
    if (
        jti == session.previous_refresh_jti
        and session.rotated_at is not None
        and (now - clock.as_utc(session.rotated_at)).total_seconds()
        <= cfg["JWT_REFRESH_GRACE"]
    ):
        return _pair(session, session.refresh_jti, session.expires_at)
    revoke_session(session, reason="refresh_reuse_detected")
    raise TokenReused("This refresh token was already used; the session is revoked.")


def revoke_session(session: AuthSession | SessionRef, *, reason: str) -> None:
    """Revoke one session (its access and refresh tokens stop working now)."""
    db.session.execute(
        sa.update(AuthSession)
        .where(AuthSession.id == session.id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=clock.utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    audit(
        reason, user_id=str(session.user.public_id), session_id=str(session.public_id)
    )


def revoke_user_sessions(
    user: User | Caller, *, reason: str, commit: bool = True
) -> None:
    """Revoke every live session of `user`."""
    db.session.execute(
        sa.update(AuthSession)
        .where(AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=clock.utcnow())
        .execution_options(synchronize_session=False)
    )
    if commit:
        db.session.commit()
    audit(reason, user_id=str(user.public_id))


def list_sessions(user: User | Caller) -> sa.Select:
    """The statement listing `user`'s live sessions, newest first."""
    return (
        sa.select(AuthSession)
        .where(
            AuthSession.user_id == user.id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > clock.utcnow(),
        )
        .order_by(AuthSession.created_at.desc(), AuthSession.id.desc())
    )


def get_own_session(user: User | Caller, session_id: uuid.UUID) -> AuthSession:
    """Return `user`'s live session `session_id`; another user's is NotFound."""
    session = db.session.scalar(
        list_sessions(user).where(AuthSession.public_id == session_id)
    )
    if session is None:
        raise NotFound("Session not found.")
    return session


def purge_sessions() -> int:
    """Delete expired and revoked sessions; return how many went."""
    now = clock.utcnow()
    grace = timedelta(seconds=current_app.config["JWT_REFRESH_GRACE"])
    result = db.session.execute(
        sa.delete(AuthSession).where(
            sa.or_(AuthSession.expires_at < now, AuthSession.revoked_at < now - grace)
        )
    )
    db.session.commit()
    return result.rowcount
