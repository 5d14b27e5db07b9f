"""Row and database locks taken at the start of a write, the same on both databases.

A rule that reads before it writes ("is this the last admin?", "is the shelf
full?") holds under concurrency only if no other writer can change what was read
before the write commits. PostgreSQL locks the rows read (SELECT ... FOR UPDATE);
SQLite has one writer at a time, so the transaction starts as the writer.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from bookstore.auth.models import User
from bookstore.extensions import db


def begin_writing() -> None:
    """On SQLite, make the session's transaction the database's writer now.

    pysqlite starts a transaction only at the first INSERT/UPDATE/DELETE, so the
    reads before it could see data another writer is about to change; BEGIN
    IMMEDIATE waits (busy timeout) for the write lock instead. A transaction that
    has already written holds the lock. On PostgreSQL this does nothing: there
    the reads that matter take row locks (with_for_update).
    """
    connection = db.session.connection()
    if connection.dialect.name != "sqlite":
        return
    if not connection.connection.dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


# FOR NO KEY UPDATE, not FOR UPDATE: the foreign-key checks of rows inserted for
# this user (books, sessions) take KEY SHARE locks, which this one does not block.
_LOCK_USER = (
    sa.select(User.id)
    .where(User.id == sa.bindparam("user_id"))
    .with_for_update(key_share=True)
)


def lock_user(user_id: int) -> None:
    """Serialize the writes made for one user until this transaction ends:
    PostgreSQL locks their users row, SQLite takes the database write lock."""
    begin_writing()
    if db.session.connection().dialect.name != "sqlite":
        db.session.execute(_LOCK_USER, {"user_id": user_id})


class WriterGate:
    """The SQLite writers of this host, queued by the kernel instead of polling.

    SQLite's busy handler, on finding the write lock taken, sleeps 1, 2, 5,
    10... ms and tries again; the lock is usually free again long before. Under
    concurrent creates about a third of them slept so (strace: a
    clock_nanosleep per three creates), the other worker idle meanwhile. Here a
    writer first takes an exclusive flock(2) on a file beside the database
    (`<database>-writer`): a waiter blocks in the kernel and runs the moment the
    holder lets go. It only orders the writers that take it; SQLite's own lock
    still decides (BEGIN IMMEDIATE, with its busy timeout against any other
    writer), so a process that skips the gate is as safe as before.

    One open file per process (flock belongs to the open file, which a fork
    would share) and a thread lock for the threads of one process. A holder
    holds it for one short transaction, itself bounded by the busy timeout; the
    kernel releases it if the holder dies. The wait here counts against the
    waiter's own busy timeout (books.creates), so a write still gives up after
    DATABASE_STATEMENT_TIMEOUT in all, as without the gate.
    """

    def __init__(self, path: str) -> None:
        self.path = f"{path}-writer"
        self._threads = threading.Lock()
        self._opened: tuple[int, int] | None = None  # (pid, fd)

    def _fd(self) -> int:
        pid = os.getpid()
        if self._opened is None or self._opened[0] != pid:
            if self._opened is not None:  # the parent's: this copy must not
                os.close(self._opened[1])  # keep its lock alive if it dies
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._opened = (pid, fd)
        return self._opened[1]

    @contextmanager
    def held(self) -> Iterator[float]:
        """Hold the gate; yields the seconds waited for it."""
        started = time.monotonic()
        with self._threads:
            fd = self._fd()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield time.monotonic() - started
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)


_GATES: dict[str, WriterGate] = {}


@contextmanager
def sqlite_writer(engine: sa.Engine) -> Iterator[float]:
    """Hold this host's writer gate for `engine`'s SQLite file (WriterGate);
    yields the seconds waited for it. A database in memory (one process)
    needs none."""
    path = engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        yield 0.0
        return
    gate = _GATES.get(path)
    if gate is None:
        gate = _GATES.setdefault(path, WriterGate(path))
    with gate.held() as waited:
        yield waited
