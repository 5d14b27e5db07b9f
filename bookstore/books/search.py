"""The indexes behind `q`: pg_trgm on PostgreSQL, an FTS5 trigram table on SQLite.

Neither is a table or index SQLAlchemy's metadata can describe (a GIN operator
class, a virtual table with its shadow tables and triggers), so they are DDL run
after the tables are created, like the book-count triggers; migration 0004 holds
a frozen copy (0007 sets the pending list limit). `include_object` keeps them
out of Alembic's model comparison.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from bookstore.auth.models import EMAIL_INDEX
from bookstore.extensions import db

SEARCH_TABLE = "books_search"
TRIGRAM_INDEXES = ("ix_books_title_key_trgm", "ix_books_author_key_trgm")
PENDING_LIST_LIMIT = "gin_pending_list_limit = 64"  # kB

SEARCH_DDL = {
    # CREATE EXTENSION needs a role allowed to create it: pg_trgm is a trusted
    # extension (PostgreSQL 13+), so the database owner may, as may a superuser.
    # gin_pending_list_limit: new entries wait in a pending list that every
    # search reads in full until vacuum (or a full list) merges it; at the
    # default 4 MB that can cost a search more than the rest of it. 64 kB (the
    # least allowed) keeps the list short and still batches a few inserts.
    "postgresql": [
        "CREATE EXTENSION IF NOT EXISTS pg_trgm",
        *(
            f"CREATE INDEX {name} ON books USING gin ({column} gin_trgm_ops)"
            f" WITH ({PENDING_LIST_LIMIT})"
            for name, column in zip(
                TRIGRAM_INDEXES, ("title_key", "author_key"), strict=True
            )
        ),
    ],
    # The folded keys, indexed as they are (case_sensitive 1): a match is then a
    # substring of exactly what the LIKE scan compares. External content: the
    # text lives once, in books; the triggers keep the index in step (a
    # migration that rebuilds `books` must create them again).
    "sqlite": [
        f"""CREATE VIRTUAL TABLE {SEARCH_TABLE} USING fts5(
            title_key, author_key, content='books', content_rowid='id',
            tokenize='trigram case_sensitive 1')""",
        f"""CREATE TRIGGER {SEARCH_TABLE}_insert AFTER INSERT ON books BEGIN
            INSERT INTO {SEARCH_TABLE} (rowid, title_key, author_key)
            VALUES (NEW.id, NEW.title_key, NEW.author_key);
        END""",
        f"""CREATE TRIGGER {SEARCH_TABLE}_delete AFTER DELETE ON books BEGIN
            INSERT INTO {SEARCH_TABLE} ({SEARCH_TABLE}, rowid, title_key, author_key)
            VALUES ('delete', OLD.id, OLD.title_key, OLD.author_key);
        END""",
        f"""CREATE TRIGGER {SEARCH_TABLE}_update
        AFTER UPDATE OF title_key, author_key ON books BEGIN
            INSERT INTO {SEARCH_TABLE} ({SEARCH_TABLE}, rowid, title_key, author_key)
            VALUES ('delete', OLD.id, OLD.title_key, OLD.author_key);
            INSERT INTO {SEARCH_TABLE} (rowid, title_key, author_key)
            VALUES (NEW.id, NEW.title_key, NEW.author_key);
        END""",
    ],
}
for _dialect, _statements in SEARCH_DDL.items():
    for _statement in _statements:  # db.create_all() (the tests) gets them too
        sa.event.listen(
            db.metadata, "after_create", sa.DDL(_statement).execute_if(dialect=_dialect)
        )


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic filter: the search index objects, and the other indexes made as
    DDL beside their table (auth.models.EMAIL_INDEX), are not the models' to
    compare."""
    if type_ == "table":
        return name != SEARCH_TABLE and not name.startswith(f"{SEARCH_TABLE}_")
    if type_ == "index":
        return name not in TRIGRAM_INDEXES and name != EMAIL_INDEX
    return True


@contextmanager
def comparing() -> Iterator[None]:
    """Around Alembic's comparison of the database with the models: SQLite's
    reflection warns that it skips an expression index (EMAIL_INDEX), one that
    include_object leaves out anyway."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            f"Skipped unsupported reflection of expression-based index {EMAIL_INDEX}$",
            sa.exc.SAWarning,
        )
        yield
