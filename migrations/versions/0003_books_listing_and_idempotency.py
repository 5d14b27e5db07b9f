"""Book match keys, listing indexes and per-owner counts; idempotency keys.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 17:16:50.538956

"""
import unicodedata

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

KEYS = ('title', 'author', 'publisher')


def _fold(text):
    # A frozen copy of bookstore.books.models.fold: migrations never import the app.
    return unicodedata.normalize('NFC', text.casefold())


def _backfill_keys():
    books = sa.table('books', sa.column('id'), *(sa.column(n) for n in KEYS),
                     *(sa.column(f'{n}_key') for n in KEYS))
    connection = op.get_bind()
    rows = connection.execute(sa.select(books.c.id, *(books.c[n] for n in KEYS))).all()
    update = (
        sa.update(books)
        .where(books.c.id == sa.bindparam('book_id'))
        .values({f'{n}_key': sa.bindparam(f'new_{n}_key') for n in KEYS})
    )
    for start in range(0, len(rows), 1000):
        batch = [
            {'book_id': row.id, **{f'new_{n}_key': _fold(getattr(row, n)) for n in KEYS}}
            for row in rows[start:start + 1000]
        ]
        connection.execute(update, batch)


# A frozen copy of bookstore.books.models.COUNT_TRIGGERS.
COUNT_TRIGGERS = {
    'sqlite': [
        """CREATE TRIGGER book_counts_insert AFTER INSERT ON books BEGIN
            INSERT INTO book_counts (owner_id, slot, books)
            VALUES (NEW.owner_id, 0, 1)
            ON CONFLICT (owner_id, slot) DO UPDATE SET books = books + 1;
        END""",
        """CREATE TRIGGER book_counts_delete AFTER DELETE ON books BEGIN
            UPDATE book_counts SET books = books - 1
            WHERE owner_id = OLD.owner_id AND slot = 0;
        END""",
        """CREATE TRIGGER book_counts_move AFTER UPDATE OF owner_id ON books
        WHEN NEW.owner_id IS NOT OLD.owner_id BEGIN
            UPDATE book_counts SET books = books - 1
            WHERE owner_id = OLD.owner_id AND slot = 0;
            INSERT INTO book_counts (owner_id, slot, books)
            VALUES (NEW.owner_id, 0, 1)
            ON CONFLICT (owner_id, slot) DO UPDATE SET books = books + 1;
        END""",
    ],
    'postgresql': [
        """CREATE OR REPLACE FUNCTION book_counts_add() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN
            INSERT INTO book_counts AS c (owner_id, slot, books)
            SELECT owner_id, floor(random() * 64), count(*)
            FROM new_books GROUP BY owner_id
            ON CONFLICT (owner_id, slot) DO UPDATE SET books = c.books + EXCLUDED.books;
            RETURN NULL;
        END $$""",
        """CREATE OR REPLACE FUNCTION book_counts_remove() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN
            UPDATE book_counts AS c SET books = c.books - gone.n
            FROM (SELECT owner_id, count(*) AS n FROM old_books GROUP BY owner_id)
                AS gone
            WHERE c.owner_id = gone.owner_id AND c.slot = (
                SELECT min(slot) FROM book_counts WHERE owner_id = gone.owner_id);
            RETURN NULL;
        END $$""",
        """CREATE OR REPLACE FUNCTION book_counts_move() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN
            UPDATE book_counts SET books = books - 1
            WHERE owner_id = OLD.owner_id AND slot = (
                SELECT min(slot) FROM book_counts WHERE owner_id = OLD.owner_id);
            INSERT INTO book_counts AS c (owner_id, slot, books)
            VALUES (NEW.owner_id, 0, 1)
            ON CONFLICT (owner_id, slot) DO UPDATE SET books = c.books + 1;
            RETURN NULL;
        END $$""",
        """CREATE TRIGGER book_counts_insert AFTER INSERT ON books
        REFERENCING NEW TABLE AS new_books
        FOR EACH STATEMENT EXECUTE FUNCTION book_counts_add()""",
        """CREATE TRIGGER book_counts_delete AFTER DELETE ON books
        REFERENCING OLD TABLE AS old_books
        FOR EACH STATEMENT EXECUTE FUNCTION book_counts_remove()""",
        """CREATE TRIGGER book_counts_move AFTER UPDATE OF owner_id ON books
        FOR EACH ROW WHEN (OLD.owner_id IS DISTINCT FROM NEW.owner_id)
        EXECUTE FUNCTION book_counts_move()""",
    ],
}
DROP_TRIGGERS = {
    'sqlite': [f'DROP TRIGGER IF EXISTS book_counts_{t}' for t in ('insert', 'delete', 'move')],
    'postgresql': [
        *(f'DROP TRIGGER IF EXISTS book_counts_{t} ON books' for t in ('insert', 'delete', 'move')),
        *(f'DROP FUNCTION IF EXISTS book_counts_{f}()' for f in ('add', 'remove', 'move')),
    ],
}


def upgrade():
    op.create_table('idempotency_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response_body', sa.Text(), nullable=False),
    sa.Column('response_headers', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_idempotency_keys_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_keys')),
    sa.UniqueConstraint('user_id', 'key', name=op.f('uq_idempotency_keys_user_id_key'))
    )
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.create_index('ix_idempotency_keys_expires_at', ['expires_at'], unique=False)

    # Case-insensitive match keys: added nullable, filled from the existing rows,
    # then made NOT NULL.
    with op.batch_alter_table('books', schema=None) as batch_op:
        for name in KEYS:
            batch_op.add_column(sa.Column(f'{name}_key', sa.String(length=600), nullable=True))
    _backfill_keys()
    with op.batch_alter_table('books', schema=None) as batch_op:
        for name in KEYS:
            batch_op.alter_column(f'{name}_key', existing_type=sa.String(length=600), nullable=False)
        # One index per allowed sort (id last: the tiebreak), and the publisher filter.
        batch_op.create_index('ix_books_owner_id_author_key', ['owner_id', 'author_key', 'id'], unique=False)
        batch_op.create_index('ix_books_owner_id_price_cents', ['owner_id', 'price_cents', 'id'], unique=False)
        batch_op.create_index('ix_books_owner_id_publisher_key', ['owner_id', 'publisher_key', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_books_owner_id_title_key', ['owner_id', 'title_key', 'id', 'author_key'], unique=False)

    # Per-owner book counts for the unfiltered listing's total, kept by triggers.
    # (After the batch operations above: on SQLite they rebuild the books table,
    # which would drop triggers created earlier.)
    op.create_table('book_counts',
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('slot', sa.SmallInteger(), nullable=False),
    sa.Column('books', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_book_counts_owner_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('owner_id', 'slot', name=op.f('pk_book_counts'))
    )
    op.execute(
        'INSERT INTO book_counts (owner_id, slot, books)'
        ' SELECT owner_id, 0, count(*) FROM books GROUP BY owner_id'
    )
    for statement in COUNT_TRIGGERS.get(op.get_bind().dialect.name, []):
        op.execute(statement)


def downgrade():
    for statement in DROP_TRIGGERS.get(op.get_bind().dialect.name, []):
        op.execute(statement)
    op.drop_table('book_counts')

    with op.batch_alter_table('books', schema=None) as batch_op:
        batch_op.drop_index('ix_books_owner_id_title_key')
        batch_op.drop_index('ix_books_owner_id_publisher_key')
        batch_op.drop_index('ix_books_owner_id_price_cents')
        batch_op.drop_index('ix_books_owner_id_author_key')
        batch_op.drop_column('publisher_key')
        batch_op.drop_column('author_key')
        batch_op.drop_column('title_key')

    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_index('ix_idempotency_keys_expires_at')

    op.drop_table('idempotency_keys')
