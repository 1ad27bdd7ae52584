"""Fractional-index positions: a move rewrites one row, no rebalancing."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from typing import Any

from fractional_indexing import FIError, generate_key_between, validate_order_key
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.core.errors import InvalidPosition
from orbitask.core.prepared import Prepared

MAX_POSITION_LENGTH = 128


def between(after: str | None, before: str | None) -> str:
    """A position strictly between `after` and `before` (None means the open end)."""
    if after is not None and before is not None and after >= before:
        raise InvalidPosition("the 'after' item must come before the 'before' item")
    try:
        key = generate_key_between(after, before)
    except FIError as exc:  # corrupt stored key: refuse rather than guess
        raise InvalidPosition(f"cannot place an item there: {exc}") from exc
    if len(key) > MAX_POSITION_LENGTH:
        raise InvalidPosition("positions in this list are too deeply nested; move a neighbour first")
    return key


def is_valid(key: str) -> bool:
    """Whether `key` is a well-formed position."""
    try:
        validate_order_key(key)
    except FIError:
        return False
    return True


@dataclass(frozen=True)
class _Queries:
    neighbour: Prepared
    next_after: Prepared
    last_before: Prepared
    last: Prepared


@functools.cache
def _queries(model: Any, scope_column: Any, excluding: bool) -> _Queries:
    """The sibling queries of one kind of ordered row, built once (building them cost more than running them)."""
    position = model.position
    siblings = select(position).where(scope_column == bindparam("scope"))
    if excluding:
        siblings = siblings.where(model.id != bindparam("exclude"))
    return _Queries(
        neighbour=Prepared(select(position).where(model.id == bindparam("item"), scope_column == bindparam("scope"))),
        next_after=Prepared(siblings.where(position > bindparam("position")).order_by(position).limit(1)),
        last_before=Prepared(siblings.where(position < bindparam("position")).order_by(position.desc()).limit(1)),
        last=Prepared(siblings.order_by(position.desc()).limit(1)),
    )


async def position_for(
    session: AsyncSession,
    model: Any,
    scope_column: Any,
    scope_value: Any,
    *,
    after_id: uuid.UUID | None,
    before_id: uuid.UUID | None,
    exclude_id: uuid.UUID | None = None,
    what: str = "item",
) -> str:
    """A position in a sibling set (rows of `model` where scope_column == scope_value).

    With no neighbours given the item goes last; with one, right next to it.
    Callers hold the board lock, so neighbours cannot change underneath.
    """
    q = _queries(model, scope_column, exclude_id is not None)
    base = {"scope": scope_value} if exclude_id is None else {"scope": scope_value, "exclude": exclude_id}

    async def neighbour(item_id: uuid.UUID, name: str) -> str:
        if item_id == exclude_id:
            raise InvalidPosition(f"{name} cannot be the {what} being moved")
        row = await q.neighbour.first(session, {"scope": scope_value, "item": item_id})
        if row is None:
            raise InvalidPosition(f"{name} is not a {what} in the target {scope_column.key.removesuffix('_id')}")
        return row[0]

    after = await neighbour(after_id, "after_id") if after_id else None
    before = await neighbour(before_id, "before_id") if before_id else None
    if after is not None and before is None:
        before = await q.next_after.scalar(session, {**base, "position": after})
    elif before is not None and after is None:
        after = await q.last_before.scalar(session, {**base, "position": before})
    elif after is None and before is None:
        after = await q.last.scalar(session, base)
    return between(after, before)
