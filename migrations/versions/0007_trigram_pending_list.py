"""Trigram indexes keep a short pending list (gin_pending_list_limit = 64 kB).

A GIN index with fastupdate on (the default) queues new entries in a pending
list that every search scans in full, until vacuum or a full list (4 MB by
default) merges it into the index. On a shelf being written to, searches paid
for that list; 64 kB (the least PostgreSQL allows) bounds it. The entries
already pending are merged now. Nothing on SQLite (FTS5 has no such list).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 07:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# A frozen copy of bookstore.books.search.TRIGRAM_INDEXES.
TRIGRAM_INDEXES = ('ix_books_title_key_trgm', 'ix_books_author_key_trgm')


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    for name in TRIGRAM_INDEXES:
        op.execute(f'ALTER INDEX {name} SET (gin_pending_list_limit = 64)')
        op.execute(f"SELECT gin_clean_pending_list('{name}'::regclass)")


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    for name in TRIGRAM_INDEXES:
        op.execute(f'ALTER INDEX {name} RESET (gin_pending_list_limit)')
