"""The session check of every authenticated request, alone or inside a read.

On PostgreSQL each statement is a network round trip. A read-only request
(GET, HEAD) therefore does not check the session up front: the check waits
for the view's first read and runs in the same statement (`Guarded`), or on
its own when the view asks who is calling first. It always runs before the
response leaves (guards.token_required settles it), and a read-only request
runs in autocommit: one statement is one snapshot, and no empty BEGIN and
ROLLBACK are sent around it.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask import g
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.visitors import replacement_traverse

from bookstore import clock
from bookstore.auth.identity import Caller, SessionRef
from bookstore.auth.models import AuthSession, User
from bookstore.extensions import db
from bookstore.security.tokens import TokenError, TokenExpired, TokenRevoked

_users, _sessions = User.__table__, AuthSession.__table__
_CHECK_COLUMNS = (
    _users.c.id.label("caller_id"),
    _users.c.is_admin.label("caller_is_admin"),
    _sessions.c.id.label("caller_session_id"),
    _sessions.c.expires_at.label("caller_session_expires_at"),
)
# Built once, on the tables: constructing the statement per request cost as
# much as running it. Unique auth_sessions.public_id, joined to users.
SESSION_CHECK = (
    sa.select(*_CHECK_COLUMNS)
    .select_from(_users.join(_sessions, _sessions.c.user_id == _users.c.id))
    .where(
        _sessions.c.public_id == sa.bindparam("sid"),
        _sessions.c.revoked_at.is_(None),
        _users.c.public_id == sa.bindparam("sub"),
        _users.c.is_active.is_(True),
    )
)
# Inside a combined statement, the caller's row id: the user of the session the
# check reads (a page is returned only with the check's row, which proves that
# session is alive and belongs to the token's subject).
_CALLER_ID = (
    sa.select(_sessions.c.user_id)
    .where(_sessions.c.public_id == sa.bindparam("sid"))
    .scalar_subquery()
)
CALLER = object()  # "the caller", as the owner of a Guarded read's rows
SAFE_METHODS = frozenset({"GET", "HEAD"})


def token_ids(subject: str, session_id: str) -> tuple[uuid.UUID, uuid.UUID]:
    try:
        return uuid.UUID(subject), uuid.UUID(session_id)
    except ValueError:
        raise TokenError("The token is invalid.") from None


def session_ref(row, sub: uuid.UUID, sid: uuid.UUID) -> SessionRef:
    """The check's verdict on its row (None: no live session): TokenRevoked if
    dead, TokenExpired past the session's end (SESSION_MAX_AGE)."""
    if row is None:
        raise TokenRevoked("The token's session has ended; log in again.")
    if clock.as_utc(row.caller_session_expires_at) <= clock.utcnow():  # JWT leeway
        raise TokenExpired("The session has expired; log in again.")
    return SessionRef(
        row.caller_session_id, sid, Caller(row.caller_id, sub, row.caller_is_admin)
    )


def check_now(subject: str, session_id: str) -> SessionRef:
    """Run the check on its own; raise TokenRevoked unless the session is alive."""
    sub, sid = token_ids(subject, session_id)
    row = _connection().execute(SESSION_CHECK, {"sid": sid, "sub": sub}).first()
    return session_ref(row, sub, sid)


def defer(subject: str, session_id: str) -> None:
    """Leave the check to the request's first statement (read-only requests,
    and write views marked as running it in their one statement)."""
    g.pending_check = token_ids(subject, session_id)


def pending() -> tuple[uuid.UUID, uuid.UUID] | None:
    """The token's (user id, session id) while the check waits, else None."""
    return g.get("pending_check")


def settled_by(row, sub: uuid.UUID, sid: uuid.UUID) -> SessionRef:
    """Record the verdict of a check that ran inside another statement."""
    g.current_session = session_ref(row, sub, sid)
    del g.pending_check
    return g.current_session


def settle() -> SessionRef:
    """The caller's session, checked now if still pending."""
    pending = g.get("pending_check")
    if pending is not None:
        sub, sid = pending
        row = _connection().execute(SESSION_CHECK, {"sid": sid, "sub": sub}).first()
        g.current_session = session_ref(row, sub, sid)  # raises: still pending
        del g.pending_check
    return g.current_session


class Viewer:
    """Who is calling a read-only view: the token's subject at once, the row id
    and role when asked (asking runs the session check if it is pending)."""

    __slots__ = ("public_id",)

    def __init__(self, public_id: uuid.UUID) -> None:
        self.public_id = public_id

    @property
    def id(self) -> int:
        return settle().user.id

    @property
    def is_admin(self) -> bool:
        return settle().user.is_admin


def viewer() -> Viewer | Caller:
    """The caller, without running a pending session check."""
    pending = g.get("pending_check")
    return Viewer(pending[0]) if pending is not None else settle().user


class Guarded:
    """A read built once in two forms: alone, and with the session check.

    `owner_param` names the bind parameter of `statement` that holds the row
    owner's id; the combined form, for the caller's own rows, takes it from the
    checked session. Its rows carry the read's columns first (they unpack as the
    plain read's), then `_position` (None on the one row that says the read
    found nothing), then the check's. With `entity`, `statement` selects that
    ORM entity and rows carry it first.
    """

    def __init__(
        self, statement: sa.Select, *, owner_param: str | None = None, entity=None
    ) -> None:
        self.plain, self.orm, self.owner_param = (
            statement,
            entity is not None,
            owner_param,
        )

        def caller_from_session(element):
            if isinstance(element, BindParameter) and element.key == owner_param:
                return _CALLER_ID
            return None

        numbered = replacement_traverse(statement, {}, caller_from_session)
        numbered = numbered.add_columns(
            sa.func.row_number()
            .over(order_by=list(statement._order_by_clauses) or None)
            .label("_position")
        )
        page = numbered.subquery("page")
        check = SESSION_CHECK.subquery("caller")
        read = (aliased(entity, page), page.c._position) if self.orm else (page,)
        self.combined = (
            sa.select(*read, check)
            .select_from(check.outerjoin(page, sa.true()))
            .order_by(page.c._position)
        )

    def rows(self, params: dict, owner=CALLER) -> list:
        """Run it: with the check when that is pending, `owner` is the caller (or
        there is no owner) and the database is across a network; else alone,
        after the check. SQLite runs in the worker: no round trip to save, and
        its planner makes the combined form dearer than the two statements."""
        pending = g.get("pending_check")
        remote = _connection().dialect.name == "postgresql"
        if pending is None or owner is not CALLER or not remote:
            caller = settle().user
            if self.owner_param is not None:
                owner_id = caller.id if owner is CALLER else owner
                params = {**params, self.owner_param: owner_id}
            return self._execute(self.plain, params)
        sub, sid = pending
        rows = self._execute(self.combined, {**params, "sid": sid, "sub": sub})
        g.current_session = session_ref(rows[0] if rows else None, sub, sid)
        del g.pending_check
        return [row for row in rows if row._position is not None]

    def _execute(self, statement, params: dict) -> list:
        connection = _connection()  # the session runs ORM reads on it too
        if self.orm:
            return db.session.execute(statement, params).all()
        return connection.execute(statement, params).all()


def _connection() -> sa.Connection:
    """The request's connection: in autocommit for a read-only request (no
    BEGIN/ROLLBACK round trips on PostgreSQL) when nothing began a transaction."""
    session = db.session()
    if g.get("read_only") and not session.in_transaction():
        return session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    return session.connection()
