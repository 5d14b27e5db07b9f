"""An index on lower(users.email): account recovery finds accounts by email in
any case, which without it read every row of users.

DDL beside the table, as the search indexes are (SQLite's reflection cannot
read an expression index back); bookstore.auth.models.EMAIL_INDEX names it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 02:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# A frozen copy of bookstore.auth.models.EMAIL_INDEX.
EMAIL_INDEX = 'ix_users_email_lower'


def upgrade():
    op.execute(f'CREATE INDEX {EMAIL_INDEX} ON users (lower(email))')


def downgrade():
    op.execute(f'DROP INDEX {EMAIL_INDEX}')
