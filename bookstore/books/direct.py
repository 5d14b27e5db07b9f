"""A create's statements run on the pool's DBAPI connection, each compiled once.

A create is one statement on PostgreSQL and four on SQLite. Through the ORM
Session and SQLAlchemy's execution context (events, result metadata, the
session's transaction bookkeeping) they cost more CPU than the driver's work
(figures: bench/README.md). Here each is compiled once per dialect, as a read's
is (bookstore/reads.py: the SQL, bind and result processors taken from
SQLAlchemy), and run on the DBAPI cursor of a connection checked out of the
same pool (its checkout events run), or of the connection
reads.on_read_connection passes (the thread's read connection: the create's,
books/creates.py). A driver error is raised as SQLAlchemy
raises it (the DBAPIError family, the connection invalidated when it died), so
callers and errors.py see no difference. tests/books/test_direct_create.py
holds the results to the Session's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from bookstore import reads
from bookstore.extensions import db


class Driver:
    """A connection's DBAPI side, for the statements of one write: `fairy`, a
    pooled connection, or one taken from `engine`'s pool."""

    def __init__(self, engine: sa.Engine, fairy=None) -> None:
        self.dialect = engine.dialect
        self.fairy = fairy if fairy is not None else reads.pooled_connection(engine)

    def execute(self, statement: sa.Executable, values: dict | None = None):
        """Run `statement`; its first row (fields by name) if it returns any."""
        known = reads.compiled(statement, self.dialect)
        rows = known.run(self.fairy, values or {})
        return rows[0] if rows else None

    def run(self, method: str) -> None:
        """Call the DBAPI connection's `method` (commit, rollback)."""
        try:
            getattr(self.fairy, method)()
        except self.dialect.loaded_dbapi.Error as error:
            raise reads.driver_error(
                error, method.upper(), None, self.dialect, self.fairy
            ) from error


@contextmanager
def driver() -> Iterator[Driver]:
    """A connection from the app's pool for one write; back to the pool (its
    reset rolls back whatever was left open) when the block ends."""
    connection = Driver(db.engine)
    try:
        yield connection
    finally:
        connection.fairy.close()
