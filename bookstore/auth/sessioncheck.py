"""The credential check of every authenticated request, alone or inside a read.

On PostgreSQL each statement is a network round trip. A read-only request
(GET, HEAD) therefore does not check its credential up front: the check (a
login session's, or a personal access token's: a `CheckKind`) waits for the
view's first read and runs in the same statement (`Guarded`), or on its own
when the view asks who is calling first. It always runs before the response
leaves (guards.token_required settles it), and a read-only request runs in
autocommit: one statement is one snapshot, and no empty BEGIN and ROLLBACK
are sent around it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import sqlalchemy as sa
from flask import g
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.visitors import replacement_traverse

from bookstore import clock
from bookstore.auth.identity import Caller, SessionRef
from bookstore.auth.models import AuthSession, User
from bookstore.extensions import db
from bookstore.reads import Read, direct_engine, on_read_connection
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


@dataclass(frozen=True, slots=True, eq=False)
class CheckKind:
    """A credential check that can ride inside a read (`Guarded`).

    `statement` is the check alone: at most one row, its columns labelled
    `caller_*` (they sit beside the read's in a combined row); `caller_id` is
    the caller's users.id as a scalar subquery on the same bind parameters;
    `gate`, if set, names a boolean column of `statement` without which the
    read's rows are not joined (a dead credential reads nothing).
    """

    statement: sa.Select
    caller_id: sa.ScalarSelect
    gate: str | None = None
    read: Read = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "read", Read(self.statement))


SESSION = CheckKind(SESSION_CHECK, _CALLER_ID)


@dataclass(frozen=True, slots=True)
class Pending:
    """A check waiting for the request's first statement: its kind, its bind
    values, its verdict on the check's row (None: no row), which returns the
    caller's SessionRef/TokenRef or raises, and the caller's public id when
    the credential names it without the database (a login token's subject)."""

    kind: CheckKind
    params: dict
    verdict: Callable
    public_id: uuid.UUID | None = None


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
    rows = _rows(SESSION.read, {"sid": sid, "sub": sub})
    return session_ref(rows[0] if rows else None, sub, sid)


def session_check(subject: str, session_id: str) -> Pending:
    """The login session's check, to wait for the request's first statement."""
    sub, sid = token_ids(subject, session_id)
    verdict = partial(session_ref, sub=sub, sid=sid)
    return Pending(SESSION, {"sid": sid, "sub": sub}, verdict, sub)


def wait(check: Pending) -> None:
    """Leave the check to the request's first statement (read-only requests,
    and write views marked as running it in their one statement)."""
    g.pending_check = check


def defer(subject: str, session_id: str) -> None:
    """Leave the login session's check to the request's first statement."""
    wait(session_check(subject, session_id))


def pending() -> Pending | None:
    """The check while it waits, else None."""
    return g.get("pending_check")


def settled_by(row) -> SessionRef:
    """Record the verdict of the pending check on its row (None: no row),
    read inside another statement; raise as the verdict does."""
    check = g.pop("pending_check")
    try:
        g.current_session = check.verdict(row)
    except Exception as error:
        # Final: settle() raises it again, without a second check (or audit event).
        g.failed_check = error
        raise
    return g.current_session


def settle() -> SessionRef:
    """The caller's session (or token), checked now if still pending."""
    check = g.get("pending_check")
    if check is not None:
        rows = _rows(check.kind.read, check.params)
        return settled_by(rows[0] if rows else None)
    failed = g.get("failed_check")
    if failed is not None:
        raise failed
    return g.current_session


class Viewer:
    """Who is calling a read-only view: a login token's subject at once, the row
    id and role (and a personal access token's user) when asked: asking runs
    the check if it is pending."""

    __slots__ = ("_public_id",)

    def __init__(self, public_id: uuid.UUID | None) -> None:
        self._public_id = public_id

    @property
    def public_id(self) -> uuid.UUID:
        if self._public_id is None:
            return settle().user.public_id
        return self._public_id

    @property
    def id(self) -> int:
        return settle().user.id

    @property
    def is_admin(self) -> bool:
        return settle().user.is_admin


def viewer() -> Viewer | Caller:
    """The caller, without running a pending session check."""
    check = g.get("pending_check")
    return Viewer(check.public_id) if check is not None else settle().user


class Guarded:
    """A read built once alone, and once with each kind of check that rides in it.

    `owner_param` names the bind parameter of `statement` that holds the row
    owner's id; a combined form, for the caller's own rows, takes it from the
    checked credential. Its rows carry the read's columns first (they unpack as
    the plain read's), then `_position` (None on the one row that says the read
    found nothing), then the check's.
    """

    def __init__(self, statement: sa.Select, *, owner_param: str | None = None) -> None:
        self.plain, self.owner_param = statement, owner_param
        self._plain = Read(statement)
        self._combined: dict[CheckKind, Read] = {}

    def combined(self, kind: CheckKind) -> sa.Select:
        """The read with `kind`'s check, built on first use (then reused)."""
        return self._read_with(kind).statement

    def _read_with(self, kind: CheckKind) -> Read:
        read = self._combined.get(kind)
        if read is None:
            read = self._combined[kind] = Read(self._combine(kind))
        return read

    def _combine(self, kind: CheckKind) -> sa.Select:
        def caller_from_check(element):
            if isinstance(element, BindParameter) and element.key == self.owner_param:
                return kind.caller_id
            return None

        numbered = replacement_traverse(self.plain, {}, caller_from_check)
        numbered = numbered.add_columns(
            sa.func.row_number()
            .over(order_by=list(self.plain._order_by_clauses) or None)
            .label("_position")
        )
        page = numbered.subquery("page")
        check = kind.statement.subquery("caller")
        gate = check.c[kind.gate] if kind.gate is not None else sa.true()
        return (
            sa.select(page, check)
            .select_from(check.outerjoin(page, gate))
            .order_by(page.c._position)
        )

    def rows(self, params: dict, owner=CALLER) -> list:
        """Run it: with the check when that is pending, `owner` is the caller (or
        there is no owner) and the database is across a network; else alone,
        after the check. SQLite runs in the worker: no round trip to save, and
        its planner makes the combined form dearer than the two statements."""
        check = g.get("pending_check")
        remote = db.engine.dialect.name == "postgresql"
        if check is None or owner is not CALLER or not remote:
            if check is not None and not remote and g.get("read_only"):
                engine = direct_engine()
                if engine is not None:
                    return self._after_check(engine, check, params, owner)
            owned = self._owned(params, owner, settle().user)
            return _rows(self._plain, owned, last=True)
        rows = _rows(self._read_with(check.kind), {**params, **check.params}, last=True)
        settled_by(rows[0] if rows else None)
        return [row for row in rows if row._position is not None]

    def _owned(self, params: dict, owner, caller: Caller) -> dict:
        """`params` with the owner's id (`caller`'s for CALLER), if it has one."""
        if self.owner_param is None:
            return params
        return {**params, self.owner_param: caller.id if owner is CALLER else owner}

    def _after_check(self, engine: sa.Engine, check: Pending, params: dict, owner):
        """SQLite: the pending check, then the read, on one connection
        (reads.on_read_connection; a SELECT there begins no transaction)."""
        return on_read_connection(
            engine, self._check_then_read, engine.dialect, check, params, owner
        )

    def _check_then_read(self, connection, dialect, check: Pending, params, owner):
        found = check.kind.read.rows_on(connection, dialect, check.params)
        caller = settled_by(found[0] if found else None).user
        owned = self._owned(params, owner, caller)
        return self._plain.rows_on(connection, dialect, owned)


def _rows(read: Read, params: dict, *, last: bool = False) -> list:
    """`read`'s rows: run directly (bookstore/reads.py) in a read-only request
    where it can be, else through SQLAlchemy on the request's connection.

    On PostgreSQL only the view's read runs directly (`last`: a Guarded read),
    not a check alone: the view goes on through the Session (a filtered
    listing, /users/me), whose connection is in autocommit only when the check
    took it first (request_connection); else a BEGIN and ROLLBACK would come
    back. SQLite begins no transaction for a SELECT.
    """
    if g.get("read_only"):
        engine = direct_engine()
        if engine is not None and (last or engine.dialect.name == "sqlite"):
            return read.rows(engine, params)
    return request_connection().execute(read.statement, params).all()


def request_connection() -> sa.Connection:
    """The request's connection: on PostgreSQL in autocommit for a read-only
    request (no BEGIN/ROLLBACK round trips) when nothing began a transaction.

    Not on SQLite: pysqlite begins no transaction for a SELECT, so autocommit
    saves nothing there, and SQLAlchemy's reset of it when the connection goes
    back to the pool (PRAGMA read_uncommitted) expires every statement SQLite
    has prepared on the connection: each read recompiled its SQL (figures:
    bench/README.md).
    """
    session = db.session()
    if (
        g.get("read_only")
        and not session.in_transaction()
        and session.get_bind().dialect.name == "postgresql"
    ):
        return session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    return session.connection()
