"""Fresh, throwaway databases for the suite: SQLite files and PostgreSQL databases."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


def _conninfo(url) -> str:
    url = make_url(url)
    parts = {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "dbname": url.database,
    }
    return " ".join(f"{key}={value}" for key, value in parts.items() if value)


@contextlib.contextmanager
def fresh_postgres(admin_url: str) -> Iterator[str]:
    """Create an empty PostgreSQL database next to `admin_url`'s; drop it afterwards.

    Fails (never skips) when the server is unreachable: CI must not go green on
    SQLite alone.
    """
    name = f"bookstore_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_conninfo(admin_url), autocommit=True, connect_timeout=5) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(drivername="postgresql+psycopg", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_conninfo(admin_url), autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def fresh_database(backend: str, directory: Path) -> Iterator[str]:
    """Yield the URL of a new, empty database of `backend`."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / f'{uuid.uuid4().hex[:8]}.sqlite3'}"
    else:
        with fresh_postgres(os.environ["TEST_DATABASE_URL"]) as url:
            yield url
