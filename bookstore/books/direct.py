"""A create's statements run on the pool's DBAPI connection, each compiled once.

A create is one statement on PostgreSQL and four on SQLite. Through the ORM
Session and SQLAlchemy's execution context (events, result metadata, the
session's transaction bookkeeping) they cost more CPU than the driver's work
(figures: bench/README.md). Here each is compiled once per dialect, its bind
and result processors taken from SQLAlchemy, and run on the DBAPI cursor of a
connection checked out of the same pool (its checkout events run). A driver
error is raised as SQLAlchemy raises it (the DBAPIError family, the connection
invalidated when it died), so callers and errors.py see no difference.
tests/books/test_direct_create.py holds the results to the Session's.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from bookstore.extensions import db


class Compiled:
    """`statement` compiled for `dialect`: its SQL, and how to turn named
    values into the driver's parameters and its row into a named tuple."""

    def __init__(self, statement: sa.Executable, dialect: sa.Dialect) -> None:
        self.statement = statement
        compiled = statement.compile(dialect=dialect)
        if compiled.escaped_bind_names:  # not expected of our names; refuse
            raise ValueError("bind names that need escaping")
        self.sql = compiled.string
        self.literals = {  # the values written in the statement (0 in coalesce)
            name: bind.effective_value
            for bind, name in compiled.bind_names.items()
            if not bind.required
        }
        self.processors = compiled._bind_processors
        self.order = compiled.positiontup if compiled.positional else None
        columns = compiled._result_columns
        self.row = namedtuple("Row", [c[0] for c in columns]) if columns else None
        self.converters = [
            c[3]._cached_result_processor(dialect, None) for c in columns
        ]

    def parameters(self, values: dict):
        params = {**self.literals, **values}
        for name, process in self.processors.items():
            if params.get(name) is not None:
                params[name] = process(params[name])
        if self.order is not None:
            return tuple(params[name] for name in self.order)
        return params

    def first(self, cursor):
        """The cursor's first row as a named tuple, or None."""
        raw = cursor.fetchone()
        if raw is None:
            return None
        return self.row._make(
            value if convert is None or value is None else convert(value)
            for value, convert in zip(raw, self.converters, strict=True)
        )


_compiled: dict[tuple[int, str], Compiled] = {}


def compiled(statement: sa.Executable, dialect: sa.Dialect) -> Compiled:
    """`statement` compiled for `dialect`, once per process: for statements
    built once (module constants); the entry holds its statement, so an id()
    is never reused for another while it is here."""
    key = (id(statement), dialect.name)
    found = _compiled.get(key)
    if found is None or found.statement is not statement:
        found = _compiled[key] = Compiled(statement, dialect)
    return found


class Driver:
    """A pooled connection's DBAPI side, for the statements of one write."""

    def __init__(self, engine: sa.Engine) -> None:
        self.dialect = engine.dialect
        self.hide_parameters = engine.hide_parameters
        self.fairy = engine.raw_connection()

    def execute(self, statement: sa.Executable, values: dict | None = None):
        """Run `statement`; its first row (a named tuple) if it returns rows."""
        known = compiled(statement, self.dialect)
        params = known.parameters(values or {})
        cursor = self.fairy.cursor()
        try:
            cursor.execute(known.sql, params)
            return known.first(cursor) if known.row is not None else None
        except self.dialect.loaded_dbapi.Error as error:
            raise self._wrapped(error, cursor, known.sql, params) from error
        finally:
            cursor.close()

    def run(self, method: str) -> None:
        """Call the DBAPI connection's `method` (commit, rollback)."""
        try:
            getattr(self.fairy, method)()
        except self.dialect.loaded_dbapi.Error as error:
            raise self._wrapped(error, None, method.upper(), None) from error

    def _wrapped(self, error, cursor, sql, params) -> DBAPIError:
        """The error as SQLAlchemy would raise it; a dead connection invalidated
        (the pool then drops it)."""
        dead = self.dialect.is_disconnect(error, self.fairy.dbapi_connection, cursor)
        if dead:
            self.fairy.invalidate(error)
        return DBAPIError.instance(
            sql,
            params,
            error,
            self.dialect.loaded_dbapi.Error,
            hide_parameters=self.hide_parameters,
            connection_invalidated=dead,
            dialect=self.dialect,
        )


@contextmanager
def driver() -> Iterator[Driver]:
    """A connection from the app's pool for one write; back to the pool (its
    reset rolls back whatever was left open) when the block ends."""
    connection = Driver(db.engine)
    try:
        yield connection
    finally:
        connection.fairy.close()
