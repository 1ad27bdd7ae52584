"""Board snapshots: built once per board version, cached as ready bytes.

A board changes mostly one card at a time, and reading and validating every card is most of a
snapshot's cost. So a new version is built from the board's previous cached snapshot when the
events in between (the outbox, one per version) all name a card: only those cards are read again;
the other cards' JSON is taken from the previous snapshot, in the order and membership read now,
and so are its lists, labels and (at the same workspace membership version) members. Any other
event (a list, a label, the board itself) or a missing version means a full build.
"""

from __future__ import annotations

import functools
import gzip
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from anyio import to_thread
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.auth.policy import Actor
from orbitask.boards import lists
from orbitask.boards.schemas import BoardRead
from orbitask.boards.service import BoardStamp, board_members, board_stamp, board_view
from orbitask.core.cache import Cache
from orbitask.core.db import repeatable_read
from orbitask.core.events import Event
from orbitask.core.observability import SNAPSHOT_BUILDS, SNAPSHOT_CACHE
from orbitask.core.prepared import Prepared
from orbitask.tasks import service as tasks
from orbitask.tasks.schemas import CARD_LIST


def snapshot_key(board_id: uuid.UUID, version: int, members_version: int) -> str:
    """Cache key of a board at a version (and workspace membership version): never stale."""
    return f"board:{board_id}:v{version}:m{members_version}"


# Bodies up to this size are compressed on the event loop (about 1 ms at this size), larger ones in a thread.
GZIP_INLINE_MAX = 256 * 1024
# Past this many versions a full build is as cheap as reading the events in between.
PATCH_MAX_VERSIONS = 100

_EVENT_CARDS = Prepared(select(Event.card_id).where(
    Event.board_id == bindparam("board_id"), Event.board_version > bindparam("since"),
    Event.board_version <= bindparam("version"),
))


def last_snapshot_key(board_id: uuid.UUID) -> str:
    """Cache key naming the most recently built snapshot of a board (a starting point, may be stale)."""
    return f"board:{board_id}:last"


@dataclass(frozen=True, slots=True)
class Previous:
    """A board's snapshot built earlier, at `version` and workspace `members_version`."""

    body: bytes
    version: int
    members_version: int


async def build_snapshot(
    session: AsyncSession, board: object, *, members_version: int | None = None, previous: Previous | None = None
) -> bytes:
    """Board, lists, open cards, labels and members as JSON bytes (caller-independent).

    `previous`: an earlier snapshot of this board. When only cards changed since (module
    docstring), its lists and labels are still right, and so are the cards no event touched and,
    at the same workspace membership version, the members (a board's own members and visibility
    change with board events; user names do not change).
    """
    read = BoardRead.model_validate(board)
    members = None
    changed = await _changed_cards(session, read.id, previous.version, read.version) if previous is not None else None
    if previous is not None and changed is not None:
        prior = orjson.loads(previous.body)
        open_lists, labels = prior["lists"], prior["labels"]
        if previous.members_version == members_version:
            members = prior["members"]
        cards = await _patched_cards(session, read.id, [x["id"] for x in open_lists], prior["cards"], changed)
        SNAPSHOT_BUILDS.labels("patched").inc()
    else:
        read_lists = await lists.board_lists(session, read.id)
        open_lists = [x.model_dump(mode="json") for x in read_lists]
        labels = [x.model_dump(mode="json") for x in await lists.board_labels(session, read.id)]
        # one call, not one per card
        cards = CARD_LIST.dump_python(await tasks.snapshot_cards(session, read.id, [x.id for x in read_lists]),
                                      mode="json")
        SNAPSHOT_BUILDS.labels("full").inc()
    body = {
        "board": read.model_dump(mode="json"),
        "version": read.version,
        "lists": open_lists,
        "cards": cards,
        "labels": labels,
        "members": members if members is not None
        else [m.model_dump(mode="json") for m in await board_members(session, board)],  # type: ignore[arg-type]
    }
    return orjson.dumps(body)


async def _changed_cards(session: AsyncSession, board_id: uuid.UUID, since: int, version: int) -> set[str] | None:
    """The ids of the cards the board's events after `since` (up to `version`) touched; None when one
    of those events is not a card's (a list, a label, the board) or is missing."""
    if not 0 <= version - since <= PATCH_MAX_VERSIONS:
        return None
    touched = [row[0] for row in await _EVENT_CARDS.all(session, {"board_id": board_id, "since": since,
                                                                   "version": version})]
    if len(touched) != version - since or None in touched:  # a version without its event, or not a card's
        return None
    return {str(card_id) for card_id in touched}


async def _patched_cards(
    session: AsyncSession, board_id: uuid.UUID, list_ids: list[str], previous: list[dict[str, Any]], changed: set[str],
) -> list[dict[str, Any]]:
    """The open cards as JSON objects: the `previous` ones reused unless `changed`, which are read again.

    Only the changed cards can have joined, left or moved on the board (any other change is an event
    that rules patching out), so the order is worked out here rather than read: by list, position
    and id, as `tasks.snapshot_cards` orders them (positions and ids compare byte-wise everywhere).
    """
    cards = {card["id"]: card for card in previous if card["id"] not in changed}
    lists_order = {list_id: i for i, list_id in enumerate(list_ids)}
    fresh = await tasks.cards_by_id(session, [uuid.UUID(card_id) for card_id in changed])
    for card in CARD_LIST.dump_python(fresh, mode="json"):  # a deleted card is not found: it is gone
        if card["board_id"] == str(board_id) and card["list_id"] in lists_order and not card["archived"]:
            cards[card["id"]] = card
    return sorted(cards.values(), key=lambda card: (lists_order[card["list_id"]], card["position"], card["id"]))


async def _last_snapshot(cache: Cache, board_id: uuid.UUID) -> Previous | None:
    """The most recently built snapshot of the board, if still in the cache."""
    pointer = await cache.get(last_snapshot_key(board_id))
    if pointer is None:
        return None
    try:
        version, members_version = orjson.loads(pointer)  # written by _remember_last
    except (ValueError, TypeError):  # not ours (a cache shared with another release): no starting point
        return None
    body = await cache.get(snapshot_key(board_id, version, members_version))
    return Previous(body, version, members_version) if body is not None else None


async def _remember_last(cache: Cache, board_id: uuid.UUID, version: int, members_version: int) -> None:
    """Make the snapshot at these versions the board's starting point for patching."""
    await cache.set(last_snapshot_key(board_id), orjson.dumps([version, members_version]))


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
        previous = await _last_snapshot(cache, stamp.id)
        async with repeatable_read(session):
            # look again inside the transaction: the body must match the version in its key
            view = await board_view(session, actor, board_id, plain=True)
            base_key = snapshot_key(view.board.id, view.board.version, view.members_version)
            key = f"{base_key}:r{view.role}" + (":gz" if gzipped else "")
            base = await build_snapshot(session, view.board, members_version=view.members_version, previous=previous)
        await cache.set(base_key, base)
        await _remember_last(cache, view.board.id, view.board.version, view.members_version)
        stamp = BoardStamp(view.board.id, view.board.version, view.members_version, view.role)
    body = b'{"role":' + orjson.dumps(stamp.role) + b"," + base[1:]
    if gzipped:
        compress = functools.partial(gzip.compress, body, compresslevel=5, mtime=0)
        # a board of a hundred cards compresses in about 0.1 ms, less than a hop to a worker thread costs
        body = compress() if len(body) <= GZIP_INLINE_MAX else await to_thread.run_sync(compress)
    await cache.set(key, body)
    return body
