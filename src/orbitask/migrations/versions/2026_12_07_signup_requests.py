"""Sign-ups waiting for their e-mailed link (ORBITASK_SIGNUP_VERIFICATION).

Revision ID: signup_requests
Revises: audit
Create Date: 2026-12-07 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import orbitask.core.db

revision = 'signup_requests'
down_revision = 'audit'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('signup_request',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', orbitask.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', orbitask.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signup_request')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_signup_request_token_hash'))
    )
    with op.batch_alter_table('signup_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signup_request_email'), ['email'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('signup_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signup_request_email'))

    op.drop_table('signup_request')
