"""Bulk writes for imports: many rows in few statements, inside the caller's transaction."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, insert, update
from sqlalchemy.ext.asyncio import AsyncSession


async def upsert(session: AsyncSession, model: Any, new: list[dict[str, Any]], old: list[dict[str, Any]]) -> None:
    """Insert `new` rows and update `old` ones by primary key: two statements, however many rows."""
    if new:  # Core, not ORM, inserts: the ORM's per-row bookkeeping costs more than the database here
        await session.execute(insert(model.__table__), new)
    if old:
        await session.execute(update(model), old)


async def replace_children(
    session: AsyncSession, model: Any, parent_column: Any, parent_ids: list[uuid.UUID], rows: list[dict[str, Any]]
) -> None:
    """Make the children of these parents exactly `rows` (delete, then insert)."""
    if parent_ids:
        await session.execute(delete(model).where(parent_column.in_(parent_ids)))
    if rows:
        await session.execute(insert(model.__table__), rows)
