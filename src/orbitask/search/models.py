"""The search index: one row per piece of text of a card, in ordinary tables that replicate with the data."""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from orbitask.core.db import Base, long_text
from orbitask.search import ddl

KINDS = ("title", "description", "comment", "item", "attachment")


class SearchEntry(Base):
    """A card's title, description, comment, checklist item or attachment name: its folded terms and its text.

    Deleting the card, comment or item deletes the entry through the foreign keys' cascades (and so
    does deleting its checklist, list, board or workspace); `id` is the FTS5 rowid on SQLite.
    """

    __tablename__ = "search_entry"
    __table_args__ = (UniqueConstraint("kind", "source_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    card_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("card.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[uuid.UUID]  # the card (title, description), comment, checklist item or attachment
    comment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("comment.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("checklist_item.id", ondelete="CASCADE"), index=True)
    terms: Mapped[str] = mapped_column(long_text())  # syntax.stored_terms: what the full-text index reads
    body: Mapped[str] = mapped_column(long_text())  # the original text, for snippets


ddl.attach(SearchEntry.__table__)  # type: ignore[arg-type]
