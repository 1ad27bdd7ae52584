"""Search on SQLite: `search_term`, every indexed word (from the full-text index's own vocabulary), and each
entry's board marker (search/syntax.py, board_marker), so long prefixes and one-board searches stay fast.

Revision ID: search_terms
Revises: trash
Create Date: 2026-12-08 13:00:00
"""

from __future__ import annotations

from alembic import op

from orbitask.search import ddl, syntax

revision = 'search_terms'
down_revision = 'trash'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(ddl.CREATE_TERMS)
    for statement in ddl.REFILL_TERMS:
        op.execute(statement)
    # Uuid columns hold 32 lower-case hex digits on SQLite, as board_marker spells them; the triggers re-index.
    op.execute(f"UPDATE search_entry SET terms = terms || ' ' || char({ord(syntax.BOARD_MARK)}) || "
               "(SELECT card.board_id FROM card WHERE card.id = search_entry.card_id) "
               f"WHERE instr(terms, char({ord(syntax.BOARD_MARK)})) = 0")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TABLE IF EXISTS {ddl.TERM_TABLE}")
        marker = f"' ' || char({ord(syntax.BOARD_MARK)})"
        op.execute(f"UPDATE search_entry SET terms = substr(terms, 1, instr(terms, {marker}) - 1) "
                   f"WHERE instr(terms, {marker}) > 0")
