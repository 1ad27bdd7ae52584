"""Trash: deleted cards and lists kept for a while, restorable in place.

Revision ID: trash
Revises: account_policy
Create Date: 2026-12-08 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import orbitask.core.db

revision = 'trash'
down_revision = 'account_policy'
branch_labels = None
depends_on = None

_TABLES = ('card', 'board_list')


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('deleted_at', orbitask.core.db.UTCDateTime(timezone=True), nullable=True))
            batch_op.add_column(sa.Column('deleted_by', sa.Uuid(), nullable=True))
            batch_op.create_index(batch_op.f(f'ix_{table}_deleted_at'), ['deleted_at'], unique=False)
            batch_op.create_foreign_key(batch_op.f(f'fk_{table}_deleted_by_user_account'), 'user_account',
                                        ['deleted_by'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    for table in reversed(_TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f'fk_{table}_deleted_by_user_account'), type_='foreignkey')
            batch_op.drop_index(batch_op.f(f'ix_{table}_deleted_at'))
            batch_op.drop_column('deleted_by')
            batch_op.drop_column('deleted_at')
