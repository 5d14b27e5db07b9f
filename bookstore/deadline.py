"""A request's budget on PostgreSQL: all its waits on the server together.

The server's statement_timeout cancels a slow statement, but not a statement the
server never received: a database host that froze, or a link that stopped
forwarding, leaves psycopg waiting on an open socket indefinitely, and TCP
keepalives see nothing wrong while the peer's kernel still acknowledges. So each
request may spend DATABASE_STATEMENT_TIMEOUT seconds waiting on the database, all
waits together (connect, pre-ping, statements, commit); time spent elsewhere
(hashing a password, sending mail) is not charged. A wait that would overrun the
budget closes the connection and raises OperationalError: errors.py answers 503.
"""

from __future__ import annotations

import math
import time

import psycopg
import sqlalchemy as sa
from flask import Flask
from flask.globals import _cv_request  # Flask's own: no proxy on every wait

# Outside a request (CLI commands), each wait gets the timeout plus this margin:
# the server's statement_timeout fires first and keeps the connection usable.
_MARGIN = 1.0
# Seconds of database waiting a request has left, kept on its request context
# from its first wait on: no hook per request (most requests of some kinds,
# /healthz or a refused token, never wait on the database), and the budget ends
# with the request. Closing the session after the request (teardown_appcontext)
# is outside it, as each wait of a CLI command.
_BUDGET = "bookstore_database_budget"


def _request_budget(timeout: float) -> tuple[object | None, float | None]:
    """The current request's context and the seconds it has left (`timeout`
    before its first wait), or (None, None) outside a request."""
    context = _cv_request.get(None)
    if context is None:
        return None, None
    return context, context.__dict__.get(_BUDGET, timeout)


class DatabaseDeadline(psycopg.OperationalError):
    """The database did not answer within the request's budget."""


class _Charged:
    """Time a wait to charge it to the request's budget; yields the wait's limit."""

    def __init__(self, timeout: float):
        self.context, self.budget = _request_budget(timeout)
        self.limit = timeout + _MARGIN if self.budget is None else self.budget

    def __enter__(self) -> float:
        self.started = time.monotonic()
        return self.limit

    def __exit__(self, *exc) -> None:
        if self.budget is not None:
            spent = time.monotonic() - self.started
            setattr(self.context, _BUDGET, max(0.0, self.budget - spent))


class DeadlineConnection(psycopg.Connection):
    """A psycopg connection whose waits are charged to the request's budget."""

    deadline_timeout: float = 5.0

    def wait(self, gen, interval=0.1, timeout=None):
        # _Charged's work, inline: a request makes about seven waits (most of
        # them on generators that finish at once, like a ROLLBACK of an idle
        # connection), and a context manager object per wait was most of their cost.
        context, budget = _request_budget(self.deadline_timeout)
        limit = self.deadline_timeout + _MARGIN if budget is None else budget
        if timeout is not None and timeout < limit:
            limit = timeout
        started = time.monotonic()
        try:
            return super().wait(gen, interval, limit)
        except psycopg.errors._WaitTimeout:  # the one name psycopg raises
            # The reply may still come and desynchronise the protocol: the
            # connection is unusable; closed, SQLAlchemy drops it from the pool.
            self.pgconn.finish()
            raise DatabaseDeadline("the database did not answer in time") from None
        finally:
            if budget is not None:
                spent = time.monotonic() - started
                setattr(context, _BUDGET, max(0.0, budget - spent))


def _connect(timeout: float):
    class Bounded(DeadlineConnection):
        deadline_timeout = timeout

    def connect(dialect, connection_record, cargs, cparams):
        """Open a DeadlineConnection within what remains of the budget."""
        with _Charged(timeout) as limit:
            # libpq's rule, which psycopg follows: whole seconds, at least 2. So
            # under a second left is no attempt: an attempt could overrun by 2 s.
            if limit < 1:
                raise DatabaseDeadline("no time left to connect to the database")
            cparams["connect_timeout"] = max(2, math.floor(limit))
            return Bounded.connect(*cargs, **cparams)

    return connect


def register(app: Flask, engine: sa.Engine) -> None:
    """Bound `engine`'s waits by each request's deadline: a psycopg engine only
    (create_app imports this module for PostgreSQL; SQLite's bound is its busy
    timeout, extensions.engine_options)."""
    sa.event.listen(
        engine, "do_connect", _connect(app.config["DATABASE_STATEMENT_TIMEOUT"])
    )
