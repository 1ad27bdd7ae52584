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
            batch_op.create_foreign_key(batch_op.f(f'fk_{table}_deleted_by_user_account'), 'user_account',
                                        ['deleted_by'], ['id'], ondelete='SET NULL')
        # only the rows in the trash where the backend can (orbitask.core.db.trashed_index)
        only_trashed = sa.text('deleted_at IS NOT NULL')
        op.create_index(op.f(f'ix_{table}_deleted_at'), table, ['deleted_at'], unique=False,
                        sqlite_where=only_trashed, postgresql_where=only_trashed)


def downgrade() -> None:
    for table in reversed(_TABLES):
        op.drop_index(op.f(f'ix_{table}_deleted_at'), table_name=table)
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f'fk_{table}_deleted_by_user_account'), type_='foreignkey')
            batch_op.drop_column('deleted_by')
            batch_op.drop_column('deleted_at')
