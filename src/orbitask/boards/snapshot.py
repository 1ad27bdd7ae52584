"""Board snapshots: built once per board version, cached as ready bytes."""

from __future__ import annotations

import functools
import gzip
import uuid

import orjson
from anyio import to_thread
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.auth.policy import Actor
from orbitask.boards import lists
from orbitask.boards.schemas import BoardRead
from orbitask.boards.service import BoardStamp, board_members, board_stamp, board_view
from orbitask.core.cache import Cache
from orbitask.core.db import repeatable_read
from orbitask.core.observability import SNAPSHOT_CACHE
from orbitask.tasks import service as tasks
from orbitask.tasks.schemas import CARD_LIST


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
        "cards": CARD_LIST.dump_python(cards, mode="json"),  # one call, not one per card
        "labels": [x.model_dump(mode="json") for x in await lists.board_labels(session, read.id)],
        "members": [m.model_dump(mode="json") for m in await board_members(session, board)],  # type: ignore[arg-type]
    }
    return orjson.dumps(body)


async def board_snapshot(
    session: AsyncSession, cache: Cache, actor: Actor, board_id: uuid.UUID, *, gzipped: bool = False
) -> bytes:
    """The snapshot a caller sees, as ready bytes (gzip-compressed when asked).

    Access is checked on every request with one query; the body comes from the cache
    whenever the board and membership versions match. Bodies differ only by the caller's
    role, so at most four variants (times two encodings) exist per version.
    """
    stamp = await board_stamp(session, actor, board_id)
    base_key = snapshot_key(stamp.id, stamp.version, stamp.members_version)
    key = f"{base_key}:r{stamp.role}" + (":gz" if gzipped else "")
    body = await cache.get(key)
    if body is not None:
        SNAPSHOT_CACHE.labels("hit").inc()
        return body
    SNAPSHOT_CACHE.labels("miss").inc()
    base = await cache.get(base_key)
    if base is None:
        async with repeatable_read(session):
            # look again inside the transaction: the body must match the version in its key
            view = await board_view(session, actor, board_id)
            base_key = snapshot_key(view.board.id, view.board.version, view.members_version)
            key = f"{base_key}:r{view.role}" + (":gz" if gzipped else "")
            base = await build_snapshot(session, view.board)
        await cache.set(base_key, base)
        stamp = BoardStamp(view.board.id, view.board.version, view.members_version, view.role)
    body = b'{"role":' + orjson.dumps(stamp.role) + b"," + base[1:]
    if gzipped:
        body = await to_thread.run_sync(functools.partial(gzip.compress, body, compresslevel=5, mtime=0))
    await cache.set(key, body)
    return body
