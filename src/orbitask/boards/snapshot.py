"""Board snapshots: built once per board version, cached as ready bytes.

A board changes mostly one card at a time, and reading and validating every card is most of a
snapshot's cost. So a new version is built from the board's previous snapshot when the events in
between (the outbox, one per version) all name a card: only those cards are read again; the other
cards' JSON is taken from the previous snapshot, and so are its lists, labels and (at the same
workspace membership version) members. Any other event (a list, a label, the board itself) or a
missing version means a full build.

The previous snapshot is kept in pieces (`Parts`: JSON fragments, a card's by its id) in the
process's own store (`Runtime.objects`), so patching neither parses nor re-encodes the cards it
keeps; a process that has none for a board builds it in full once.
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
from orbitask.core.cache import Cache, Lru
from orbitask.core.db import repeatable_read
from orbitask.core.events import Event
from orbitask.core.observability import SNAPSHOT_BUILDS, SNAPSHOT_CACHE
from orbitask.core.prepared import Prepared
from orbitask.tasks import service as tasks
from orbitask.tasks.schemas import CARD_LIST


def snapshot_key(board_id: uuid.UUID, version: int, members_version: int) -> str:
    """Cache key of a board at a version (and workspace membership version): never stale."""
    return f"board:{board_id}:v{version}:m{members_version}"


# Most snapshots are compressed once (the next change makes a new version): level 1 takes a quarter of
# level 5's CPU (50 KB of cards: 0.09 against 0.35 ms) for a body about a tenth larger.
GZIP_LEVEL = 1
# Bodies up to this size are compressed on the event loop (about 1 ms at this size), larger ones in a thread.
GZIP_INLINE_MAX = 256 * 1024
# Past this many versions a full build is as cheap as reading the events in between.
PATCH_MAX_VERSIONS = 100

_EVENT_CARDS = Prepared(select(Event.card_id).where(
    Event.board_id == bindparam("board_id"), Event.board_version > bindparam("since"),
    Event.board_version <= bindparam("version"),
))


CardOrder = tuple[int, str, str]  # list index, position, id: the order of a snapshot's cards


@dataclass(frozen=True, slots=True)
class Parts:
    """A board's snapshot at `version` (and workspace `members_version`), as JSON fragments."""

    version: int
    members_version: int
    list_order: dict[str, int]  # open list id -> index
    lists: bytes  # JSON arrays
    labels: bytes
    members: bytes
    cards: dict[str, tuple[CardOrder, bytes]]  # card id -> (order, JSON object)

    def body(self, board: bytes) -> bytes:
        """The snapshot's JSON, given its board object's JSON."""
        cards = b",".join(fragment for _, fragment in sorted(self.cards.values(), key=_order))
        return b"".join((b'{"board":', board, b',"version":', str(self.version).encode(), b',"lists":', self.lists,
                         b',"cards":[', cards, b'],"labels":', self.labels, b',"members":', self.members, b"}"))

    def size(self) -> int:
        """About the memory it takes, in bytes."""
        return len(self.lists) + len(self.labels) + len(self.members) + sum(
            len(fragment) + 200 for _, fragment in self.cards.values())


def _order(entry: tuple[CardOrder, bytes]) -> CardOrder:
    return entry[0]


def parts_key(board_id: uuid.UUID) -> str:
    """Key of a board's latest `Parts` in the process's object store."""
    return f"snapshot-parts:{board_id}"


async def build_snapshot(
    session: AsyncSession, board: Any, *, members_version: int | None = None, previous: Parts | None = None
) -> bytes:
    """Board, lists, open cards, labels and members as JSON bytes (caller-independent)."""
    read = BoardRead.model_validate(board)
    parts = await build_parts(session, board, read.version, members_version=members_version, previous=previous)
    return parts.body(orjson.dumps(read.model_dump(mode="json")))


async def build_parts(
    session: AsyncSession, board: Any, version: int, *, members_version: int | None, previous: Parts | None
) -> Parts:
    """The pieces of the board's snapshot at `version`.

    `previous`: an earlier snapshot of this board. When only cards changed since (module docstring),
    its lists and labels are still right, and so are the cards no event touched and, at the same
    workspace membership version, the members (a board's own members and visibility change with
    board events; user names do not change).
    """
    changed = await _changed_cards(session, board.id, previous.version, version) if previous is not None else None
    members = None
    if previous is not None and changed is not None:
        cards = await _patched_cards(session, board.id, previous, changed)
        list_order, lists_json, labels_json = previous.list_order, previous.lists, previous.labels
        if previous.members_version == members_version:
            members = previous.members
        SNAPSHOT_BUILDS.labels("patched").inc()
    else:
        read_lists = await lists.board_lists(session, board.id)
        list_order = {str(x.id): i for i, x in enumerate(read_lists)}
        lists_json = orjson.dumps([x.model_dump(mode="json") for x in read_lists])
        labels_json = orjson.dumps([x.model_dump(mode="json") for x in await lists.board_labels(session, board.id)])
        # one call, not one per card
        fresh = CARD_LIST.dump_python(await tasks.snapshot_cards(session, board.id, [x.id for x in read_lists]),
                                      mode="json")
        cards = {card["id"]: (_card_order(card, list_order), orjson.dumps(card)) for card in fresh}
        SNAPSHOT_BUILDS.labels("full").inc()
    if members is None:
        members = orjson.dumps([m.model_dump(mode="json") for m in await board_members(session, board)])
    return Parts(version, members_version or 0, list_order, lists_json, labels_json, members, cards)


def _card_order(card: dict[str, Any], list_order: dict[str, int]) -> CardOrder:
    return list_order[card["list_id"]], card["position"], card["id"]


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
    session: AsyncSession, board_id: uuid.UUID, previous: Parts, changed: set[str]
) -> dict[str, tuple[CardOrder, bytes]]:
    """The open cards: the `previous` ones kept unless `changed`, which are read again.

    Only the changed cards can have joined, left or moved on the board (any other change is an event
    that rules patching out); `Parts.body` orders them by list, position and id, as
    `tasks.snapshot_cards` does (positions and ids compare byte-wise everywhere).
    """
    cards = {card_id: entry for card_id, entry in previous.cards.items() if card_id not in changed}
    fresh = await tasks.cards_by_id(session, [uuid.UUID(card_id) for card_id in changed])
    for card in CARD_LIST.dump_python(fresh, mode="json"):  # a deleted card is not found: it is gone
        if card["board_id"] == str(board_id) and card["list_id"] in previous.list_order and not card["archived"]:
            cards[card["id"]] = (_card_order(card, previous.list_order), orjson.dumps(card))
    return cards


async def board_snapshot(
    session: AsyncSession, cache: Cache, actor: Actor, board_id: uuid.UUID, *, gzipped: bool = False,
    objects: Lru | None = None,
) -> bytes:
    """The snapshot a caller sees, as ready bytes (gzip-compressed when asked).

    Access is checked on every request with one query; the body comes from the cache whenever the
    board and membership versions match. Bodies differ only by the caller's role, which is put in
    front of the cached body; compressed bodies are cached per role (at most four per version).
    `objects`: the process's store of each board's latest `Parts`, the next version's starting point.
    """
    stamp = await board_stamp(session, actor, board_id)
    base_key = snapshot_key(stamp.id, stamp.version, stamp.members_version)
    if gzipped and (body := await cache.get(f"{base_key}:r{stamp.role}:gz")) is not None:
        SNAPSHOT_CACHE.labels("hit").inc()
        return body
    base = await cache.get(base_key)
    SNAPSHOT_CACHE.labels("miss" if base is None else "hit").inc()
    if base is None:
        previous = objects.get(parts_key(stamp.id)) if objects is not None else None
        async with repeatable_read(session):
            # look again inside the transaction: the body must match the version in its key
            view = await board_view(session, actor, board_id, plain=True)
            read = BoardRead.model_validate(view.board)
            parts = await build_parts(session, view.board, read.version, members_version=view.members_version,
                                      previous=previous)
        base = parts.body(orjson.dumps(read.model_dump(mode="json")))
        stamp = BoardStamp(read.id, read.version, view.members_version, view.role)
        base_key = snapshot_key(stamp.id, stamp.version, stamp.members_version)
        await cache.set(base_key, base)
        if objects is not None:
            latest = objects.get(parts_key(stamp.id))
            if latest is None or latest.version <= parts.version:  # a slower, older build does not win
                objects.put(parts_key(stamp.id), parts, parts.size())
    body = b'{"role":' + orjson.dumps(stamp.role) + b"," + base[1:]
    if gzipped:
        compress = functools.partial(gzip.compress, body, compresslevel=GZIP_LEVEL, mtime=0)
        # a board of a hundred cards compresses in about 0.1 ms, less than a hop to a worker thread costs
        body = compress() if len(body) <= GZIP_INLINE_MAX else await to_thread.run_sync(compress)
        await cache.set(f"{base_key}:r{stamp.role}:gz", body)
    return body
