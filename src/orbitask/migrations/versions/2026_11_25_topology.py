"""Regions: the replicated topology row (writer region and epoch).

Revision ID: topology
Revises: 0001
Create Date: 2026-11-25 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import orbitask.core.db

revision = 'topology'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('topology',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('writer_region', sa.String(length=64), nullable=False),
    sa.Column('epoch', sa.Integer(), nullable=False),
    sa.Column('updated_at', orbitask.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_topology'))
    )


def downgrade() -> None:
    op.drop_table('topology')
