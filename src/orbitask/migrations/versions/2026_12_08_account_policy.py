"""Accounts: sessions (device, IP, region, last seen), disabled accounts, instance administrator.

Revision ID: account_policy
Revises: account_recovery
Create Date: 2026-12-08 11:00:00
"""

from __future__ import annotations

revision = 'account_policy'
down_revision = 'account_recovery'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
