"""Accounts: password reset, e-mail change and verification tokens; profile fields.

Revision ID: account_recovery
Revises: search
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

revision = 'account_recovery'
down_revision = 'search'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
