"""Unbound extension instances, and the engine settings each database needs."""

from __future__ import annotations

import os
import select
from functools import cache, partial
from pathlib import Path

import sqlalchemy as sa
from flask.globals import _cv_request
from flask_limiter import Limiter
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase

from bookstore.clients import client_network

# Deterministic constraint names: Alembic can then drop and compare them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Seconds after which a pooled connection is replaced by a new one (the pool's
# pool_recycle; also the longest a held read connection is kept, reads.py).
POOL_RECYCLE = 1800


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


# Objects stay loaded after commit: a view serializes what it just wrote without
# reloading it (writes that must re-read, like refresh rotation, refresh explicitly).
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# PostgreSQL advisory lock held while `flask db upgrade` runs (migrations/env.py):
# instances started together migrate one at a time. ASCII "bookstor".
MIGRATION_LOCK = 0x626F6F6B73746F72

db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})


def init_migrations(app) -> None:
    """Attach Flask-Migrate (the `flask db` commands) where it can be used.

    Alembic and Mako weigh on a gunicorn worker's memory and serve no request, so
    production loads them only under the `flask` CLI (`flask db upgrade`).
    """
    if app.config["ENV_NAME"] == "production" and not os.environ.get(
        "FLASK_RUN_FROM_CLI"  # set by Flask's CLI for every `flask` command
    ):
        return
    from flask_migrate import Migrate

    Migrate(compare_type=True, render_as_batch=True).init_app(
        app, db, directory=str(MIGRATIONS)
    )


def engine_options(url: str, config) -> dict:
    """Return SQLAlchemy engine options for `url`: deadlines, pool, reconnects.

    DATABASE_STATEMENT_TIMEOUT bounds every stage of a wait on the database; on
    PostgreSQL bookstore/deadline.py also bounds a request's waits together.
    """
    timeout = config["DATABASE_STATEMENT_TIMEOUT"]
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        # Flask-SQLAlchemy picks the pool for SQLite. The busy timeout is how long
        # a write waits for another writer's lock before "database is locked".
        return {"connect_args": {"timeout": timeout}}
    options: dict = {
        # No SELECT per checkout (a round trip per request): _drop_dead_connections
        # below finds a connection dropped while idle without asking the server.
        "pool_pre_ping": False,
        "pool_size": config["DB_POOL_SIZE"],
        "pool_timeout": timeout,
        "pool_recycle": POOL_RECYCLE,
    }
    if backend == "postgresql":
        options["connect_args"] = {
            "connect_timeout": max(2, timeout),  # libpq's minimum
            "options": f"-c statement_timeout={timeout * 1000} -c timezone=UTC",
            # Keepalives notice a peer that vanished while the connection was idle;
            # tcp_user_timeout one that stops acknowledging what we send.
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
            "tcp_user_timeout": timeout * 1000,
            # Server-side prepared statements after this many executions of a
            # statement on a connection; None for PgBouncer's transaction pooling.
            "prepare_threshold": config["DB_PREPARE_THRESHOLD"],
        }
    return options


# Execution option for a statement whose best plan depends on its parameters'
# values (a search: how many books a term matches decides between the trigram
# index and a scan, and whether the owner's index helps). psycopg prepares a
# statement after DB_PREPARE_THRESHOLD runs, and PostgreSQL then soon settles on
# one generic plan made without the values; unprepared, each run is planned
# with its own. {"unprepared": True}; no effect on SQLite, which plans each run.
UNPREPARED = {"unprepared": True}


@sa.event.listens_for(sa.engine.Engine, "do_execute")
def _execute_unprepared(cursor, statement, parameters, context) -> bool | None:
    if context.execution_options.get("unprepared") and context.dialect.driver == (
        "psycopg"
    ):
        cursor.execute(statement, parameters, prepare=False)
        return True  # executed: SQLAlchemy does not execute it again
    return None


@sa.event.listens_for(sa.engine.Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """Enforce foreign keys and use WAL journaling on every SQLite connection."""
    if type(dbapi_connection).__module__ != "sqlite3":
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # memory databases answer "memory"
    cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; no fsync per commit
    cursor.close()


def is_psycopg(dbapi_connection) -> bool:
    return _psycopg_class(type(dbapi_connection))


@cache
def _psycopg_class(cls: type) -> bool:
    # deadline.py's connection class is a psycopg subclass: look along the MRO,
    # once per class (the pool's listeners ask on every checkout and checkin).
    return any(k.__module__.split(".")[0] == "psycopg" for k in cls.__mro__)


def hung_up(dbapi_connection) -> str | None:
    """Why an idle psycopg connection is dead (the server hung up), or None.

    An idle connection receives nothing unless the server is ending it (a
    restart, pg_terminate_backend, a proxy or firewall closing the socket): so
    anything readable on its socket, or a closed socket, means it is dead. One
    poll() with no wait, instead of pool_pre_ping's round trip. A peer that
    vanished without a word is found by the TCP keepalives and the statement
    timeout, as before.
    """
    if dbapi_connection.closed or dbapi_connection.broken:
        return "connection closed"
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN)
    if poller.poll(0):
        return "the server closed the connection"
    return None


@sa.event.listens_for(sa.pool.Pool, "checkout")
def _drop_dead_connections(dbapi_connection, connection_record, connection_proxy):
    """Refuse a pooled PostgreSQL connection the server has hung up on
    (hung_up); SQLAlchemy then discards it and checks out another."""
    if is_psycopg(dbapi_connection):
        reason = hung_up(dbapi_connection)
        if reason is not None:
            raise sa.exc.DisconnectionError(reason)


@sa.event.listens_for(sa.pool.Pool, "checkin")
def _leave_autocommit(dbapi_connection, connection_record) -> None:
    """No connection goes back to the pool in autocommit: a read's connection
    (reads.read_connection) is in it while held, and the Session's transactions
    need it off. A closed one is left alone (the pool replaces it)."""
    if (
        dbapi_connection is None
        or not is_psycopg(dbapi_connection)
        or dbapi_connection.closed
        or not dbapi_connection.autocommit
    ):
        return
    try:
        dbapi_connection.autocommit = False
    except Exception:  # a statement still running (an interrupted read)
        dbapi_connection.close()  # found closed at its next checkout, replaced


# Seconds a rate-limited request waits for the store; a live Redis answers in a
# tiny fraction of it, so this only ends a wait on a store that is gone.
LIMIT_STORE_TIMEOUT = 2


def limit_store_options(uri: str) -> dict:
    """Flask-Limiter storage options: store errors wrapped in limits' StorageError
    (errors.py answers 503), and a Redis that stops answering times out."""
    options: dict = {"wrap_exceptions": True}
    if uri.startswith(("redis", "valkey")):
        options.update(
            socket_timeout=LIMIT_STORE_TIMEOUT,
            socket_connect_timeout=LIMIT_STORE_TIMEOUT,
        )
    return options


limiter = Limiter(
    key_func=client_network,  # IPv4 per address, IPv6 per /64
    headers_enabled=True,  # X-RateLimit-* and Retry-After
    strategy="moving-window",
)


def drop_idle_limit_hook(app) -> None:
    """Remove Flask-Limiter's before-request check when it has nothing to check.

    That hook evaluates only app-wide limits (application, default, meta and
    blueprint limits); the per-route limits (`@limiter.limit`) are checked by
    their own decorators. We set no app-wide limit, and finding that out again
    on every request was a large share of a /healthz (bench/README.md). Call it
    once every blueprint is registered; an app-wide limit keeps the hook.
    """
    manager = limiter.limit_manager
    if (
        manager.application_limits
        or manager.default_limits
        or getattr(limiter, "_meta_limits", None)
        or any(manager.blueprint_limits(app, name) for name in app.blueprints)
    ):
        return
    hooks = app.before_request_funcs.get(None, [])
    app.before_request_funcs[None] = [
        hook for hook in hooks if hook != limiter._check_request_limit
    ]


def limit_hooks_only_when_checked(app) -> None:
    """Run Flask-Limiter's after-request and teardown hooks only for a request
    that checked a limit.

    Both work on the request's limiter context, which the limiter creates the
    first time a check touches it: the after-request hook writes the
    X-RateLimit-* headers from it (and makes conditional deductions), the
    teardown resets it. A request that checked no limit has none, and creating
    one only to find it empty was a visible share of a /healthz (figures:
    bench/README.md). Hooks this does not find (another Flask-Limiter version)
    stay as they are.
    """
    inject = getattr(Limiter, "_Limiter__inject_headers", None)
    release = getattr(limiter, "_Limiter__release_context", None)

    def wrapped(hook):
        injects = isinstance(hook, partial) and hook.func is inject
        if (injects and hook.args == (limiter,)) or (release and hook == release):
            return _when_checked(hook)
        return hook

    for hooks in (app.after_request_funcs, app.teardown_request_funcs):
        if None in hooks:
            hooks[None] = [wrapped(hook) for hook in hooks[None]]


def _when_checked(hook):
    def run(value):  # the response (after-request) or the error (teardown)
        # The context itself, not hasattr() through its proxy: a missing name
        # costs that an AttributeError raised and caught, on most requests.
        if _LIMITER_CONTEXT in vars(_cv_request.get()):
            return hook(value)
        return value

    run.limiter_hook = hook
    return run


_LIMITER_CONTEXT = "_limiter_request_context"  # flask_limiter's Limiter.context
