"""A request's deadline on PostgreSQL: every wait on the server ends by it.

The server's statement_timeout cancels a slow statement, but not a statement the
server never received: a database host that froze, or a link that stopped
forwarding, leaves psycopg waiting on an open socket indefinitely, and TCP
keepalives see nothing wrong while the peer's kernel still acknowledges. So each
request gets DATABASE_STATEMENT_TIMEOUT seconds for all its waits together
(connect, pre-ping, statements); a wait that would pass the deadline closes the
connection and raises OperationalError, which errors.py answers with 503.
"""

from __future__ import annotations

import math
import time
from contextvars import ContextVar

import psycopg
import sqlalchemy as sa
from flask import Flask, current_app

# Outside a request (CLI commands), each wait gets the timeout plus this margin:
# the server's statement_timeout fires first and keeps the connection usable.
_MARGIN = 1.0
_deadline: ContextVar[float | None] = ContextVar("database_deadline", default=None)


class DatabaseDeadline(psycopg.OperationalError):
    """The database did not answer within the request's deadline."""


def _budget(timeout: float) -> float:
    deadline = _deadline.get()
    if deadline is None:
        return timeout + _MARGIN
    return max(0.0, deadline - time.monotonic())


class DeadlineConnection(psycopg.Connection):
    """A psycopg connection whose every wait ends by the request's deadline."""

    deadline_timeout: float = 5.0

    def wait(self, gen, interval=0.1, timeout=None):
        budget = _budget(self.deadline_timeout)
        try:
            return super().wait(
                gen, interval, budget if timeout is None else min(timeout, budget)
            )
        except psycopg.errors._WaitTimeout:  # the one name psycopg raises for it
            # The reply may still come and desynchronise the protocol: the
            # connection is unusable; closed, SQLAlchemy discards it from the pool.
            self.pgconn.finish()
            raise DatabaseDeadline("the database did not answer in time") from None


def _start() -> None:
    _deadline.set(time.monotonic() + current_app.config["DATABASE_STATEMENT_TIMEOUT"])


def _end(exc: BaseException | None) -> None:
    _deadline.set(None)


def _connect(timeout: float):
    class Bounded(DeadlineConnection):
        deadline_timeout = timeout

    def connect(dialect, connection_record, cargs, cparams):
        """Open a DeadlineConnection with what remains of the deadline."""
        budget = _budget(timeout)
        if budget <= 0:
            raise DatabaseDeadline("no time left to connect to the database")
        # libpq's rule, which psycopg follows: whole seconds, at least 2.
        cparams["connect_timeout"] = max(2, math.floor(budget))
        return Bounded.connect(*cargs, **cparams)

    return connect


def register(app: Flask, engine: sa.Engine) -> None:
    """Bound `engine`'s waits by each request's deadline (PostgreSQL only)."""
    if engine.dialect.driver != "psycopg":
        return  # SQLite's bound is its busy timeout (extensions.engine_options)
    sa.event.listen(
        engine, "do_connect", _connect(app.config["DATABASE_STATEMENT_TIMEOUT"])
    )
    app.before_request(_start)
    app.teardown_request(_end)
