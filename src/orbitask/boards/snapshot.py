"""Board snapshots: built once per board version, cached as ready bytes."""

from __future__ import annotations

import uuid

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.auth.policy import Actor
from orbitask.boards import lists
from orbitask.boards.schemas import BoardRead
from orbitask.boards.service import board_members, board_view
from orbitask.core.cache import Cache
from orbitask.core.observability import SNAPSHOT_CACHE
from orbitask.tasks import service as tasks


def snapshot_key(board_id: uuid.UUID, version: int, members_version: int) -> str:
    """Cache key of a board at a version (and workspace membership version): never stale."""
    return f"board:{board_id}:v{version}:m{members_version}"


async def build_snapshot(session: AsyncSession, board: object) -> bytes:
    """Board, lists, open cards, labels and members as JSON bytes (caller-independent)."""
    read = BoardRead.model_validate(board)
    open_lists = await lists.board_lists(session, read.id)
    cards = await tasks.snapshot_cards(session, read.id, [x.id for x in open_lists])
    body = {
        "board": read.model_dump(mode="json"),
        "version": read.version,
        "lists": [x.model_dump(mode="json") for x in open_lists],
        "cards": [c.model_dump(mode="json") for c in cards],
        "labels": [x.model_dump(mode="json") for x in await lists.board_labels(session, read.id)],
        "members": [m.model_dump(mode="json") for m in await board_members(session, board)],  # type: ignore[arg-type]
    }
    return orjson.dumps(body)


async def board_snapshot(session: AsyncSession, cache: Cache, actor: Actor, board_id: uuid.UUID) -> bytes:
    """The snapshot a caller sees: access checked every time (one query), body from cache when current."""
    view = await board_view(session, actor, board_id)
    key = snapshot_key(view.board.id, view.board.version, view.members_version)
    body = await cache.get(key)
    if body is None:
        SNAPSHOT_CACHE.labels("miss").inc()
        body = await build_snapshot(session, view.board)
        await cache.set(key, body)
    else:
        SNAPSHOT_CACHE.labels("hit").inc()
    return b'{"role":' + orjson.dumps(view.role) + b"," + body[1:]
