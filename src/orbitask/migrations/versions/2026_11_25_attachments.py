"""Attachments: files on cards, and a card's cover image.

Revision ID: attachments
Revises: transfer
Create Date: 2026-11-25 03:38:03.421883
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import orbitask.core.db

revision = 'attachments'
down_revision = 'transfer'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('attachment',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('card_id', sa.Uuid(), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('uploader_id', sa.Uuid(), nullable=True),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=127), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('storage_key', sa.String(length=255), nullable=False),
    sa.Column('thumbnail_key', sa.String(length=255), nullable=True),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.Column('created_at', orbitask.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', orbitask.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deleted_by', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['card_id'], ['card.id'], name=op.f('fk_attachment_card_id_card'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['deleted_by'], ['user_account.id'], name=op.f('fk_attachment_deleted_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['uploader_id'], ['user_account.id'], name=op.f('fk_attachment_uploader_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], name=op.f('fk_attachment_workspace_id_workspace'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attachment'))
    )
    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.create_index('ix_attachment_card', ['card_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_attachment_deleted_at'), ['deleted_at'], unique=False)
        batch_op.create_index('ix_attachment_workspace', ['workspace_id', 'deleted_at'], unique=False)

    with op.batch_alter_table('card', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cover_attachment_id', sa.Uuid(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('card', schema=None) as batch_op:
        batch_op.drop_column('cover_attachment_id')

    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.drop_index('ix_attachment_workspace')
        batch_op.drop_index(batch_op.f('ix_attachment_deleted_at'))
        batch_op.drop_index('ix_attachment_card')

    op.drop_table('attachment')
