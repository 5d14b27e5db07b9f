"""The per-owner book counts kept by triggers (book_counts): check and repair."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from bookstore.auth.models import User
from bookstore.books.models import Book, BookCount
from bookstore.extensions import db


@dataclass(frozen=True)
class Drift:
    user_id: int  # never leaves the database; `owner` is the public id
    owner: uuid.UUID
    stored: int
    actual: int


def find_drift() -> list[Drift]:
    """Every owner whose stored count differs from their books, in one query."""
    actual = (
        sa.select(Book.owner_id, sa.func.count().label("n"))
        .group_by(Book.owner_id)
        .subquery()
    )
    stored = (
        sa.select(BookCount.owner_id, sa.func.sum(BookCount.books).label("n"))
        .group_by(BookCount.owner_id)
        .subquery()
    )
    have, should = sa.func.coalesce(stored.c.n, 0), sa.func.coalesce(actual.c.n, 0)
    query = (
        sa.select(User.id, User.public_id, have, should)
        .outerjoin(actual, actual.c.owner_id == User.id)
        .outerjoin(stored, stored.c.owner_id == User.id)
        .where(have != should)
        .order_by(User.id)
    )
    return [Drift(*row) for row in db.session.execute(query)]


def recount() -> list[Drift]:
    """Recompute the drifted owners' counts in one transaction; return the drift.

    Writers are kept out meanwhile (PostgreSQL: a table lock that still lets
    readers in; SQLite: its single writer lock, held from the first write), and
    each new count is computed by the statement that stores it.
    """
    if db.engine.dialect.name == "postgresql":
        db.session.execute(sa.text("LOCK TABLE books IN SHARE ROW EXCLUSIVE MODE"))
    drift = find_drift()
    for owner in drift:
        db.session.execute(
            sa.delete(BookCount).where(BookCount.owner_id == owner.user_id)
        )
        db.session.execute(
            sa.insert(BookCount).from_select(
                ["owner_id", "slot", "books"],
                sa.select(Book.owner_id, sa.literal(0), sa.func.count())
                .where(Book.owner_id == owner.user_id)
                .group_by(Book.owner_id),
            )
        )
    db.session.commit()
    return drift
