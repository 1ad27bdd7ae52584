"""Search: the `search_entry` table and its full-text index (FTS5, FULLTEXT or GIN by backend).

Cards written before this revision are found once `orbitask search reindex` has run (docs/search.md).

Revision ID: search
Revises: signup_requests
Create Date: 2026-12-08 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import orbitask.core.db
from orbitask.search import ddl

revision = 'search'
down_revision = 'signup_requests'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('search_entry',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('card_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('source_id', sa.Uuid(), nullable=False),
    sa.Column('comment_id', sa.Uuid(), nullable=True),
    sa.Column('item_id', sa.Uuid(), nullable=True),
    sa.Column('terms', orbitask.core.db.long_text(), nullable=False),
    sa.Column('body', orbitask.core.db.long_text(), nullable=False),
    sa.ForeignKeyConstraint(['card_id'], ['card.id'], name=op.f('fk_search_entry_card_id_card'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['comment_id'], ['comment.id'], name=op.f('fk_search_entry_comment_id_comment'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['item_id'], ['checklist_item.id'], name=op.f('fk_search_entry_item_id_checklist_item'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_entry')),
    sa.UniqueConstraint('kind', 'source_id', name=op.f('uq_search_entry_kind_source_id'))
    )
    with op.batch_alter_table('search_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_search_entry_card_id'), ['card_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_search_entry_comment_id'), ['comment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_search_entry_item_id'), ['item_id'], unique=False)
    for statement in ddl.create_statements(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    for statement in ddl.drop_statements(op.get_bind().dialect.name):
        op.execute(statement)
    op.drop_table('search_entry')  # with its indexes (MariaDB refuses to drop the ones its foreign keys use)
