"""Trash: deleted cards and lists kept for a while, restorable in place.

Revision ID: trash
Revises: account_policy
Create Date: 2026-12-08 12:00:00
"""

from __future__ import annotations

revision = 'trash'
down_revision = 'account_policy'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
