"""A read-only request's statements, compiled once and run on the DBAPI connection.

Through SQLAlchemy each execution of a built statement still walked it for its
cache key, built an execution context, result metadata and Row objects, and a
read-only request created, began and closed an ORM Session only to take a
connection from the pool: together more of a listing's CPU than the
statement's round trip. A `Read` keeps what SQLAlchemy's compiler produced
for a dialect (the SQL, the parameters' names and order, their bind
processors, the result columns) and runs it on a pooled DBAPI connection that
it returns at once. tests/test_reads.py holds its rows to SQLAlchemy's
`connection.execute(statement, params).all()`.
"""

from __future__ import annotations

from operator import itemgetter

import sqlalchemy as sa

from bookstore.extensions import db


class Read:
    """A SELECT to run by `rows(params)`: compiled on first use per dialect."""

    __slots__ = ("statement",)

    def __init__(self, statement: sa.Select) -> None:
        self.statement = statement

    def compiled(self, dialect: sa.Dialect) -> Compiled:
        return compiled(self.statement, dialect)

    def rows(self, engine: sa.Engine, params: dict) -> list:
        """Its rows for `params`, as tuples whose fields are named as
        SQLAlchemy's Row's are, read on a connection from `engine`'s pool
        (autocommit on PostgreSQL) that is back in the pool when this returns,
        also when it raises."""
        pooled = pooled_connection(engine)
        try:
            return self.rows_on(pooled, engine.dialect, params)
        finally:
            pooled.close()  # the pool's reset (a rollback), then back in the pool

    def rows_on(self, pooled, dialect: sa.Dialect, params: dict) -> list:
        """As `rows`, on a connection already checked out of the pool (and
        left checked out): several reads share one checkout."""
        compiled = self.compiled(dialect)
        if not compiled.autocommit:
            return compiled.run(pooled, params)
        # One statement is one snapshot: no BEGIN and ROLLBACK around it.
        dbapi_connection = pooled.dbapi_connection
        dbapi_connection.autocommit = True
        try:
            return compiled.run(pooled, params)
        finally:
            if not dbapi_connection.closed:
                dbapi_connection.autocommit = False


def pooled_connection(engine: sa.Engine):
    """A connection from `engine`'s pool (its checkout events run), a failure
    to connect raised as engine.connect() raises it: wrapped, so that an
    OperationalError is a 503 (errors.py)."""
    try:
        return engine.raw_connection()
    except engine.dialect.loaded_dbapi.Error as error:
        sa.Connection._handle_dbapi_exception_noconnection(
            error, engine.dialect, engine
        )
        raise


_statements: dict[tuple[int, str], Compiled] = {}


def compiled(statement: sa.Executable, dialect: sa.Dialect) -> Compiled:
    """`statement` compiled for `dialect`, once per process: for statements
    built once (module constants); the entry holds its statement, so an id()
    is never reused for another while it is here."""
    key = (id(statement), dialect.name)
    found = _statements.get(key)
    if found is None or found.statement is not statement:
        found = _statements[key] = Compiled(statement, dialect)
    return found


def driver_error(
    error: Exception,
    statement: str,
    parameters,
    dialect: sa.Dialect,
    pooled,
    cursor=None,
) -> sa.exc.DBAPIError:
    """A driver's `error` as SQLAlchemy raises it (the DBAPIError family, so
    that callers and errors.py see no difference); the pooled connection
    invalidated when it died (the pool then drops it)."""
    dead = dialect.is_disconnect(error, pooled.dbapi_connection, cursor)
    if dead:
        pooled.invalidate(error)
    return sa.exc.DBAPIError.instance(
        statement,
        parameters,
        error,
        dialect.loaded_dbapi.Error,
        connection_invalidated=dead,
        dialect=dialect,
    )


def direct_engine() -> sa.Engine | None:
    """The engine a read-only request's `Read` runs on directly, or None when
    it must go through SQLAlchemy: the request's Session has begun (its
    connection, and on SQLite its transaction, come first), or something
    listens to the engine's statements (tracing, a test counting them), which
    SQLAlchemy's execution reports and a direct run would not."""
    registry = db.session.registry
    if registry.has() and registry().in_transaction():
        return None
    engine = db.engine
    dispatch = engine.dispatch
    if dispatch.before_cursor_execute or dispatch.after_cursor_execute:
        return None
    return engine


class Compiled:
    """A statement as one dialect runs it, and the class of its rows (if it
    returns any): a Read's, or one of a write's (books/direct.py)."""

    def __init__(self, statement: sa.Executable, dialect: sa.Dialect) -> None:
        self.statement = statement
        compiled = statement.compile(dialect=dialect)
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise ValueError("no expanding or literal-execute parameter here")
        self.dialect, self.sql = dialect, compiled.string
        # Not on SQLite: see bookstore.auth.sessioncheck.request_connection.
        self.autocommit = dialect.name == "postgresql"
        processors = compiled._bind_processors
        by_name: dict[str, sa.BindParameter] = {}
        for bind, name in compiled.bind_names.items():
            if bind.callable is not None or bind.expanding:
                raise ValueError(f"unsupported parameter {name!r}")
            by_name.setdefault(name, bind)
        # (name, key in the caller's params or None, constant, processor)
        self._binds = []
        for name, bind in by_name.items():
            process = processors.get(name)
            if bind.required:
                self._binds.append((name, bind.key, None, process))
            else:
                value = bind.effective_value
                constant = value if process is None else process(value)
                self._binds.append((name, None, constant, None))
        self._order = compiled.positiontup  # None: named parameters
        names = tuple(column[0] for column in compiled._result_columns)
        self._types = [column[3] for column in compiled._result_columns]
        self.row_class = _row_class(names)
        self._processors: list | None = None  # from the first cursor's description

    def parameters(self, params: dict):
        values = {}
        for name, key, constant, process in self._binds:
            if key is None:
                values[name] = constant
            else:
                value = params[key]
                values[name] = value if process is None else process(value)
        if self._order is None:
            return values
        return [values[name] for name in self._order]

    def run(self, pooled, params: dict) -> list:
        """Its rows for `params` on the pooled connection `pooled`."""
        parameters = self.parameters(params)
        dialect = self.dialect
        cursor = pooled.dbapi_connection.cursor()
        try:
            cursor.execute(self.sql, parameters)
            if not self.row_class._fields:  # a statement that returns no rows
                return []
            if self._processors is None:
                self._processors = [
                    type_._cached_result_processor(dialect, description[1])
                    for type_, description in zip(
                        self._types, cursor.description, strict=True
                    )
                ]
            fetched = cursor.fetchall()
        except dialect.loaded_dbapi.Error as error:
            raise driver_error(
                error, self.sql, parameters, dialect, pooled, cursor
            ) from error
        finally:
            cursor.close()
        make = self.row_class
        if not any(self._processors):
            return list(map(make, fetched))
        processors = self._processors
        return [
            make(
                [
                    value if process is None else process(value)
                    for process, value in zip(processors, row, strict=True)
                ]
            )
            for row in fetched
        ]


def _row_class(names: tuple[str, ...]) -> type:
    """A tuple class whose fields read by name, as SQLAlchemy's Row's do."""
    namespace = {"__slots__": (), "_fields": names}
    for position, name in enumerate(names):
        namespace[name] = property(itemgetter(position))
    namespace["_asdict"] = lambda row: dict(zip(names, row, strict=True))
    return type("ReadRow", (tuple,), namespace)
