"""Row and database locks taken at the start of a write, the same on both databases.

A rule that reads before it writes ("is this the last admin?", "is the shelf
full?") holds under concurrency only if no other writer can change what was read
before the write commits. PostgreSQL locks the rows read (SELECT ... FOR UPDATE);
SQLite has one writer at a time, so the transaction starts as the writer.
"""

from __future__ import annotations

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
