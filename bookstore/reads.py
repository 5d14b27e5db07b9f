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

Each thread keeps one connection for these reads (`read_connection`), as
Django's persistent connections do: taking one from SQLAlchemy's pool and
giving it back on every request (its bookkeeping, events and reset) was a tenth
of a get's CPU in the worker (figures: bench/README.md).
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from operator import itemgetter

import sqlalchemy as sa

from bookstore.extensions import POOL_RECYCLE, db, hung_up, is_psycopg


class Read:
    """A SELECT to run by `rows(params)`: compiled on first use per dialect."""

    __slots__ = ("statement",)

    def __init__(self, statement: sa.Select) -> None:
        self.statement = statement

    def compiled(self, dialect: sa.Dialect) -> Compiled:
        return compiled(self.statement, dialect)

    def rows(self, engine: sa.Engine, params: dict) -> list:
        """Its rows for `params`, as tuples whose fields are named as
        SQLAlchemy's Row's are, read on the thread's read connection to
        `engine` (read_connection), or on one taken from the pool for this
        read alone where none is held."""
        return on_read_connection(engine, self.compiled(engine.dialect).run, params)

    def rows_on(self, connection, dialect: sa.Dialect, params: dict) -> list:
        """As `rows`, on the connection on_read_connection() passes: several
        reads of one request on one connection."""
        return self.compiled(dialect).run(connection, params)


# libpq's PQTRANS_IDLE (psycopg.pq.TransactionStatus.IDLE), without importing
# psycopg into a worker that serves SQLite (tests/test_worker_imports.py).
_IDLE = 0


class _Held:
    """A thread's read connection: the pool's connection (checked out and
    kept), the pool it came from, the process and the time it was taken. A
    thread that ends drops its own, and this gives the connection back."""

    __slots__ = ("fairy", "pool", "pid", "since", "psycopg")

    def __init__(self, fairy, pool) -> None:
        self.fairy, self.pool = fairy, pool
        self.pid, self.since = os.getpid(), time.monotonic()
        self.psycopg = is_psycopg(fairy.dbapi_connection)

    def usable(self, pool) -> bool:
        """Still the connection to read on, for an engine whose pool is `pool`."""
        if (
            pool is not self.pool
            or self.pid != os.getpid()
            or time.monotonic() - self.since >= POOL_RECYCLE
        ):
            return False
        return self.alive()

    def alive(self) -> bool:
        fairy = self.fairy
        if fairy is None or fairy.dbapi_connection is None:  # let go, invalidated
            return False
        dbapi_connection = fairy.dbapi_connection
        if self.psycopg:
            return (
                hung_up(dbapi_connection) is None
                and dbapi_connection.info.transaction_status == _IDLE
            )
        return not dbapi_connection.in_transaction  # sqlite3: a SELECT begins none

    def let_go(self, pool) -> None:
        """Give the connection back to its pool if that is still `pool` and it
        is alive, else close it (invalidated: its place in its pool reconnects).
        One inherited from a parent process is only forgotten, as SQLAlchemy's
        dispose(close=False) leaves the parent's connections alone."""
        if self.fairy is None or self.pid != os.getpid():
            self.fairy = None
            return
        fairy = self.fairy
        if fairy.dbapi_connection is not None:
            if pool is self.pool and self.alive():
                fairy.close()  # extensions._leave_autocommit turns autocommit off
            else:
                fairy.invalidate()
        self.fairy = None

    def __del__(self) -> None:
        try:
            self.let_go(self.pool)
        except Exception:  # at interpreter shutdown, or its pool already gone
            pass


class _Local(threading.local):
    held: _Held | None = None  # each thread's own, None until its first read


# engine -> the threads' read connections to it.
_threads: weakref.WeakKeyDictionary[sa.Engine, _Local] = weakref.WeakKeyDictionary()
_threads_lock = threading.Lock()


def read_connection(engine: sa.Engine):
    """The calling thread's connection for direct reads on `engine`: taken from
    the pool once and kept from request to request, in autocommit on PostgreSQL
    (one statement is one snapshot: no BEGIN and ROLLBACK around a read). The
    create's one statement on PostgreSQL runs on it too (books/creates.py): in
    autocommit a statement is its own transaction, committed when it returns.

    Before each use it is checked as the pool checks a connection it hands out
    (closed, or the server hung up: extensions.hung_up, no round trip); a dead
    one, one left in a transaction, one older than POOL_RECYCLE, one from a pool
    engine.dispose() has replaced or one inherited from a parent process is let
    go and another taken. The Session takes its own connections from the pool:
    a worker thread uses at most one more than before. None (take one per read)
    for a pool that is not a QueuePool (SQLite in memory shares one connection),
    or whose size is 1 (DB_POOL_SIZE=1: the Session's would not stay pooled).
    """
    local = _threads.get(engine)
    if local is None:
        with _threads_lock:
            local = _threads.setdefault(engine, _Local())
    pool = engine.pool
    held = local.held
    if held is not None:
        if held.usable(pool):
            return held.fairy
        local.held = None
        held.let_go(pool)
    if not isinstance(pool, sa.pool.QueuePool) or pool.size() < 2:
        return None
    fairy = pooled_connection(engine)
    held = local.held = _Held(fairy, pool)
    if held.psycopg:
        fairy.dbapi_connection.autocommit = True
    return fairy


def on_read_connection(engine: sa.Engine, run, *args):
    """`run(connection, *args)` on the thread's read connection to `engine`
    (read_connection), or, where none is held, on one taken from the pool for
    this call alone: in autocommit on PostgreSQL as a held one is (no BEGIN and
    ROLLBACK around the reads), and back in the pool when this returns, also
    when it raises (extensions._leave_autocommit turns autocommit off)."""
    held = read_connection(engine)
    if held is not None:
        return run(held, *args)
    lent = pooled_connection(engine)
    try:
        if is_psycopg(lent.dbapi_connection):
            lent.dbapi_connection.autocommit = True
        return run(lent, *args)
    finally:
        lent.close()


def holds(engine: sa.Engine) -> bool:
    """Whether the calling thread holds a read connection to `engine`."""
    local = _threads.get(engine)
    return local is not None and local.held is not None


@sa.event.listens_for(sa.Engine, "engine_disposed")
def _dispose(engine: sa.Engine) -> None:
    """engine.dispose() (tests, a worker after fork) closes what the pool holds:
    the calling thread's read connection goes back first. Another thread's is
    let go at its next read (its pool is no longer the engine's), or when the
    thread ends."""
    local = _threads.get(engine)
    held = local.held if local is not None else None
    if held is not None:
        held.let_go(engine.pool)  # the new pool: the held one is closed
        local.held = None


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
