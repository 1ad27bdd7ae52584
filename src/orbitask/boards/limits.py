"""How much one board may hold: lists, labels and explicit members (cards: orbitask.tasks.limits).

Every create path checks these, in the transaction that inserts, after the board's row lock (so
two writers cannot both take the last place); imports check them too (orbitask.transfer.limits).
Trello's own limits are the guide: 1,000 labels and 3,000 lists per board. The caps bound what
every board read costs: 100,000 labels made a 13 MB snapshot for every viewer. Archived rows
count: they are stored and exported like the others.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.core.errors import LimitReached
from orbitask.core.prepared import Prepared

MAX_LISTS_PER_BOARD = 3_000
MAX_LABELS_PER_BOARD = 1_000
# Explicit members must already be in the board's workspace; the cap bounds the rows one board admin
# (or an import's placeholder viewers) can add, and equals the import's per-file member cap, so the
# people of any file an import accepts fit on one board.
MAX_MEMBERS_PER_BOARD = 5_000


def counter(board_column: Any) -> Prepared:
    """A count of the rows whose `board_column` is the `board_id` parameter, built once."""
    return Prepared(select(func.count()).where(board_column == bindparam("board_id")))


def full(what: str, cap: int, have: int, adding: int = 1) -> LimitReached:
    """The problem for adding `adding` `what` to a board that has `have` of them, past `cap`."""
    if adding > 1:
        detail = f"{adding:,} more {what} would take this board past the {cap:,} a board can hold (it has {have:,})."
    elif have > cap:
        detail = f"This board already has {have:,} {what}, more than the {cap:,} a board can hold."
    else:
        detail = f"This board already has {have:,} {what}, the most a board can hold."
    return LimitReached(detail, limit=cap)


async def require_room(
    session: AsyncSession, count: Prepared, board_id: uuid.UUID, *, cap: int, what: str, adding: int = 1
) -> None:
    """Refuse (409 limit-reached) to add `adding` rows counted by `count` when the board would pass `cap`.

    Call it in the inserting transaction, with the board's row locked.
    """
    if adding <= 0:
        return
    if session.new or session.deleted:  # a `Prepared` count on SQLite does not autoflush: count what is pending
        await session.flush()
    have = await count.scalar(session, {"board_id": board_id}) or 0
    if have + adding > cap:
        raise full(what, cap, have, adding)
