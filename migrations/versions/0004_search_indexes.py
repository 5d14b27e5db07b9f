"""Search indexes for `q`: pg_trgm GIN indexes on PostgreSQL, FTS5 trigram on SQLite.

On PostgreSQL this needs a role that may CREATE EXTENSION pg_trgm (a superuser,
or the database owner: pg_trgm is a trusted extension since PostgreSQL 13). The
extension is left in place on downgrade: other objects may use it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 00:40:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# A frozen copy of bookstore.books.search.SEARCH_DDL.
SEARCH_DDL = {
    'postgresql': [
        'CREATE EXTENSION IF NOT EXISTS pg_trgm',
        'CREATE INDEX ix_books_title_key_trgm ON books USING gin (title_key gin_trgm_ops)',
        'CREATE INDEX ix_books_author_key_trgm ON books USING gin (author_key gin_trgm_ops)',
    ],
    'sqlite': [
        """CREATE VIRTUAL TABLE books_search USING fts5(
            title_key, author_key, content='books', content_rowid='id',
            tokenize='trigram case_sensitive 1')""",
        """CREATE TRIGGER books_search_insert AFTER INSERT ON books BEGIN
            INSERT INTO books_search (rowid, title_key, author_key)
            VALUES (NEW.id, NEW.title_key, NEW.author_key);
        END""",
        """CREATE TRIGGER books_search_delete AFTER DELETE ON books BEGIN
            INSERT INTO books_search (books_search, rowid, title_key, author_key)
            VALUES ('delete', OLD.id, OLD.title_key, OLD.author_key);
        END""",
        """CREATE TRIGGER books_search_update
        AFTER UPDATE OF title_key, author_key ON books BEGIN
            INSERT INTO books_search (books_search, rowid, title_key, author_key)
            VALUES ('delete', OLD.id, OLD.title_key, OLD.author_key);
            INSERT INTO books_search (rowid, title_key, author_key)
            VALUES (NEW.id, NEW.title_key, NEW.author_key);
        END""",
        # Index the books that exist already.
        "INSERT INTO books_search (books_search) VALUES ('rebuild')",
    ],
}
DROP_DDL = {
    'postgresql': [
        'DROP INDEX IF EXISTS ix_books_author_key_trgm',
        'DROP INDEX IF EXISTS ix_books_title_key_trgm',
    ],
    'sqlite': [
        *(f'DROP TRIGGER IF EXISTS books_search_{t}' for t in ('insert', 'delete', 'update')),
        'DROP TABLE IF EXISTS books_search',
    ],
}


def upgrade():
    for statement in SEARCH_DDL.get(op.get_bind().dialect.name, []):
        op.execute(statement)


def downgrade():
    for statement in DROP_DDL.get(op.get_bind().dialect.name, []):
        op.execute(statement)
