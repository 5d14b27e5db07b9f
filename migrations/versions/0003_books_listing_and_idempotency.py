"""Book match keys and listing indexes; idempotency keys for POST /books.

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
        batch_op.create_index('ix_books_owner_id_publisher_key', ['owner_id', 'publisher_key'], unique=False)
        batch_op.create_index('ix_books_owner_id_title_key', ['owner_id', 'title_key', 'id', 'author_key'], unique=False)


def downgrade():
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
