"""Accounts: sessions (device, IP, region, last seen), the instance administrator, the first account.

Revision ID: account_policy
Revises: account_recovery
Create Date: 2026-12-08 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import orbitask.core.db

revision = 'account_policy'
down_revision = 'account_recovery'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('user_session',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('device', sa.String(length=100), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.Column('created_at', orbitask.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', orbitask.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', orbitask.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', orbitask.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_user_session_user_id_user_account'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_session'))
    )
    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_session_user_id'), ['user_id'], unique=False)

    op.create_table('first_account',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', orbitask.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_first_account_user_id_user_account'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_first_account'))
    )
    # existing accounts are not administrators: `orbitask admin users create --admin` makes one
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_admin', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('is_admin')

    op.drop_table('first_account')
    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_session_user_id'))

    op.drop_table('user_session')
