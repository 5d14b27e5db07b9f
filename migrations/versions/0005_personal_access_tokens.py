"""Personal access tokens: scoped, revocable credentials stored as digests.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 00:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('personal_access_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('scopes', sa.String(length=100), nullable=False),
    sa.Column('token_digest', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_personal_access_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_personal_access_tokens')),
    sa.UniqueConstraint('public_id', name=op.f('uq_personal_access_tokens_public_id')),
    sa.UniqueConstraint('token_digest', name=op.f('uq_personal_access_tokens_token_digest'))
    )
    with op.batch_alter_table('personal_access_tokens', schema=None) as batch_op:
        batch_op.create_index('ix_personal_access_tokens_user_id_expires_at', ['user_id', 'expires_at'], unique=False)


def downgrade():
    with op.batch_alter_table('personal_access_tokens', schema=None) as batch_op:
        batch_op.drop_index('ix_personal_access_tokens_user_id_expires_at')

    op.drop_table('personal_access_tokens')
