"""Cards: create, read, update, move, assign, label, search (delete and restore: tasks/trash.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy import (
    Integer,
    Uuid,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal_column,
    null,
    select,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.auth.policy import Actor
from orbitask.boards import limits as board_limits
from orbitask.boards import lists as board_lists
from orbitask.boards import service as boards
from orbitask.boards.models import Board, BoardList
from orbitask.core import ordering
from orbitask.core.db import utcnow
from orbitask.core.errors import InvalidInput, NotFound
from orbitask.core.ids import new_id
from orbitask.core.pagination import decode_cursor, encode_cursor, page_of
from orbitask.core.prepared import Prepared
from orbitask.core.uow import UnitOfWork, command
from orbitask.tasks import events, limits
from orbitask.tasks.models import (
    Attachment,
    Card,
    CardAssignee,
    CardLabel,
    CardLink,
    CardWatcher,
    ChecklistItem,
    Comment,
)
from orbitask.tasks.schemas import CARD_LIST, CardCreate, CardLinkRead, CardMove, CardRead, CardUpdate

_CARD_BOARD = Prepared(select(Card.board_id).where(Card.id == bindparam("id"), Card.deleted_at.is_(None)))


async def card_board_id(session: AsyncSession, card_id: uuid.UUID) -> uuid.UUID | None:
    """The board a card is on (None for a card in the trash: as if gone)."""
    return await _CARD_BOARD.scalar(session, {"id": card_id})


# the board is found through the card (one query fewer); the card itself is read after the lock is
# held, in a statement of its own: on PostgreSQL a locking read that waited returns the other joined
# rows as they were before the wait, so a card read in the same statement could be stale.
# Cards and lists in the trash are left out: every command on them answers 404 (tasks/trash.py restores).
_LOCK_CARD = Prepared(boards.with_access(
    boards.lock_values(), Board.id == select(Card.board_id)
    .where(Card.id == bindparam("card_id"), Card.deleted_at.is_(None)).scalar_subquery()
).with_for_update(of=Board))
_LOCK_LIST = Prepared(boards.with_access(
    boards.lock_values(), Board.id == select(BoardList.board_id)
    .where(BoardList.id == bindparam("list_id"), BoardList.deleted_at.is_(None)).scalar_subquery()
).with_for_update(of=Board))
# the hot commands read and write the card table with plain statements: the ORM's identity map,
# change tracking and flush cost more than the rest of such a command (docs/benchmarks-history.md, "Fourth pass"),
# and they are `Prepared` (core/prepared.py: on SQLite, run on the connection itself; "Fifth pass")
CARD = Card.__table__
_CARD_ROW = Prepared(select(*CARD.c).where(CARD.c.id == bindparam("card_id"), CARD.c.deleted_at.is_(None)))
_UPDATE_CARD = Prepared(update(CARD).where(CARD.c.id == bindparam("card_id_")))  # SET: the columns given
_INSERT_CARD = Prepared(insert(CARD))
_INSERT_ASSIGNEE = Prepared(insert(CardAssignee.__table__))
_INSERT_LABEL = Prepared(insert(CardLabel.__table__))
_INSERT_WATCHER = Prepared(insert(CardWatcher.__table__))
_COUNT_CARDS = board_limits.counter(CARD.c.board_id)


async def _lock_card(uow: UnitOfWork, actor: Actor, card_id: uuid.UUID, action: str, what: str) -> boards.LockedBoard:
    """Lock the card's board for this command once the caller may do `action` (404 naming `what` otherwise)."""
    row = await _LOCK_CARD.first(uow.session, {"user_id": actor.user_id, "card_id": card_id})
    if row is None:
        raise NotFound("No such card.")
    return boards.checked_lock_values(row, action, what)


async def locked_card_row(
    uow: UnitOfWork, actor: Actor, card_id: uuid.UUID, action: str, what: str = "card"
) -> tuple[boards.LockedBoard, dict[str, Any]]:
    """Lock the card's board for this command and read the card's columns (404 naming `what` when out of reach)."""
    board = await _lock_card(uow, actor, card_id, action, what)
    card = await _CARD_ROW.first(uow.session, {"card_id": card_id})
    if card is None:
        raise NotFound("No such card.")
    return board, dict(card._mapping)


async def locked_card(
    uow: UnitOfWork, actor: Actor, card_id: uuid.UUID, action: str, what: str = "card"
) -> tuple[boards.LockedBoard, Card]:
    """Lock the card's board for this command and load the card as an ORM object (to change it in place)."""
    board = await _lock_card(uow, actor, card_id, action, what)
    card = await uow.session.get(Card, card_id)
    if card is None or card.deleted_at is not None:
        raise NotFound("No such card.")
    return board, card


async def _update_card_row(uow: UnitOfWork, card: dict[str, Any], changes: dict[str, Any]) -> None:
    """Write `changes` to the card and into `card` (its column values)."""
    await _UPDATE_CARD.run(uow.session, {"card_id_": card["id"], **changes})
    card.update(changes)


async def readable_card(session: AsyncSession, actor: Actor, card_id: uuid.UUID) -> tuple[Any, Card, str]:
    """A card the caller may read, with its board and the caller's role."""
    card = await session.get(Card, card_id)
    if card is None or card.deleted_at is not None:
        raise NotFound("No such card.")
    board, role = await boards.readable_board(session, actor, card.board_id, "board.read", "card")
    return board, card, role


_CARD_RELATIONS = {"assignee_ids", "label_ids", "watcher_ids", "checklist_total", "checklist_done", "comment_count",
                   "attachment_count"}
_CARD_COLUMNS = tuple(name for name in CardRead.model_fields if name not in _CARD_RELATIONS)


def _card_scope(column: Any, by: Literal["ids", "card", "board"]) -> Any:
    """`column` restricted to the cards asked for: a list of `ids`, one `card`, or every card of one `board`."""
    if by == "board":  # snapshots
        return column.in_(select(Card.id).where(Card.board_id == bindparam("board_id")).scalar_subquery())
    if by == "card":  # the answer of a card command: no list to expand, so it can be `Prepared`
        return column == bindparam("card_id")
    return column.in_(bindparam("ids", expanding=True))


def _relation_query(by: Literal["ids", "card", "board"]) -> Any:
    """Built once (constructing the union cost more than running it): one row per relation
    (kind a/l/w: card_id, ref) and per count (kind c/m/f: card_id, n, done)."""
    def scope(column: Any) -> Any:
        return _card_scope(column, by)

    # the refs' NULLs take the first select's type (MariaDB cannot CAST to its CHAR(32) uuids)
    no_ref, no_count = type_coerce(null(), Uuid), cast(null(), Integer)
    return union_all(
        select(literal_column("'a'").label("kind"), CardAssignee.card_id, CardAssignee.user_id.label("ref"),
               no_count.label("n"), no_count.label("done"))
        .where(scope(CardAssignee.card_id)),
        select(literal_column("'l'"), CardLabel.card_id, CardLabel.label_id, no_count, no_count)
        .where(scope(CardLabel.card_id)),
        select(literal_column("'w'"), CardWatcher.card_id, CardWatcher.user_id, no_count, no_count)
        .where(scope(CardWatcher.card_id)),
        select(literal_column("'c'"), ChecklistItem.card_id, no_ref, func.count(),
               func.sum(case((ChecklistItem.done.is_(True), 1), else_=0)))
        .where(scope(ChecklistItem.card_id)).group_by(ChecklistItem.card_id),
        select(literal_column("'m'"), Comment.card_id, no_ref, func.count(), no_count)
        .where(scope(Comment.card_id), Comment.deleted_at.is_(None)).group_by(Comment.card_id),
        select(literal_column("'f'"), Attachment.card_id, no_ref, func.count(), no_count)
        .where(scope(Attachment.card_id), Attachment.deleted_at.is_(None)).group_by(Attachment.card_id),
    )


_BY_IDS = Prepared(_relation_query("ids"))
_BY_CARD = Prepared(_relation_query("card"))
_BY_BOARD = Prepared(_relation_query("board"))


def _id_of(card: Any) -> uuid.UUID:
    return card["id"] if isinstance(card, dict) else card.id  # type: ignore[no-any-return]


async def card_reads(session: AsyncSession, cards: Sequence[Any], *, board_id: uuid.UUID | None = None) -> list[CardRead]:
    """Cards (ORM objects, rows or column dicts of the card table) with their assignees, labels, watchers and counts.

    One query, however many cards.

    `board_id`: the cards are (most of) that board's, as in a snapshot; the queries then select by
    board instead of carrying hundreds of ids.
    """
    if not cards:
        return []
    if board_id is not None:
        found = await _BY_BOARD.all(session, {"board_id": board_id})
    elif len(cards) == 1:
        found = await _BY_CARD.all(session, {"card_id": _id_of(cards[0])})
    else:
        found = await _BY_IDS.all(session, {"ids": [_id_of(c) for c in cards]})
    related: dict[str, dict[uuid.UUID, list[uuid.UUID]]] = {k: defaultdict(list) for k in "alw"}
    checklist: dict[uuid.UUID, tuple[int, int]] = {}
    counted: dict[str, dict[uuid.UUID, int]] = {"m": {}, "f": {}}
    for kind, card_id, ref, n, done in found:
        if kind == "c":
            checklist[card_id] = (int(n), int(done or 0))
        elif kind in counted:
            counted[kind][card_id] = int(n)
        else:
            related[kind][card_id].append(ref)
    rows = []
    for card in cards:
        if isinstance(card, dict):
            row = {name: card[name] for name in _CARD_COLUMNS}
        else:
            row = {name: getattr(card, name) for name in _CARD_COLUMNS}
        card_id = row["id"]
        total, done = checklist.get(card_id, (0, 0))
        row.update(
            assignee_ids=sorted(related["a"].get(card_id, ())), label_ids=sorted(related["l"].get(card_id, ())),
            watcher_ids=sorted(related["w"].get(card_id, ())), checklist_total=total, checklist_done=done,
            comment_count=counted["m"].get(card_id, 0), attachment_count=counted["f"].get(card_id, 0),
        )
        rows.append(row)
    return CARD_LIST.validate_python(rows)


async def card_read(session: AsyncSession, card: Card | dict[str, Any]) -> CardRead:
    """One card with its relations."""
    return (await card_reads(session, [card]))[0]


async def _require_board_user(session: AsyncSession, board: Any, user_id: uuid.UUID, field: str) -> None:
    if await boards.role_on_board(session, board, user_id) is None:
        raise InvalidInput(f"{field}: user {user_id} cannot see this board")


async def _require_board_label(session: AsyncSession, board: Any, label_id: uuid.UUID) -> None:
    if await board_lists.label_board_id(session, label_id) != board.id:
        raise InvalidInput(f"label_ids: {label_id} is not a label on this board")


async def _require_cover(session: AsyncSession, card_id: uuid.UUID, attachment_id: uuid.UUID) -> None:
    """A cover must be a live image attachment (with a preview) of the same card."""
    row = await session.get(Attachment, attachment_id)
    if row is None or row.card_id != card_id or row.deleted_at is not None:
        raise InvalidInput("cover_attachment_id: not an attachment of this card")
    if row.thumbnail_key is None:
        raise InvalidInput("cover_attachment_id: only an image attachment (one with a preview) can be a cover")


@command
async def create_card(uow: UnitOfWork, actor: Actor, list_id: uuid.UUID, cmd: CardCreate) -> CardRead:
    """A new card on a list (default: at the bottom); the creator watches it. 409 past limits.MAX_CARDS_PER_BOARD."""
    async with uow:
        row = await _LOCK_LIST.first(uow.session, {"user_id": actor.user_id, "list_id": list_id})
        board = boards.checked_lock_values(row, "board.write", "list")
        await board_limits.require_room(uow.session, _COUNT_CARDS, board.id, cap=limits.MAX_CARDS_PER_BOARD,
                                        what="cards")
        position = await ordering.position_for(
            uow.session, Card, Card.list_id, list_id, after_id=cmd.after_id, before_id=cmd.before_id, what="card"
        )
        now = utcnow()
        card = {
            "id": new_id(), "board_id": board.id, "list_id": list_id, "title": cmd.title,
            "description": cmd.description, "position": position, "start_at": cmd.start_at, "due_at": cmd.due_at,
            "completed": False, "archived": False, "created_by": actor.user_id, "created_at": now,
            "updated_at": now, "cover_attachment_id": None,
        }
        await _INSERT_CARD.run(uow.session, card)
        assignees, labels = list(dict.fromkeys(cmd.assignee_ids)), list(dict.fromkeys(cmd.label_ids))
        watchers = list(dict.fromkeys([actor.user_id, *assignees]))
        for user_id in assignees:
            await _require_board_user(uow.session, board, user_id, "assignee_ids")
        for label_id in labels:
            await _require_board_label(uow.session, board, label_id)
        for statement, column, refs in ((_INSERT_ASSIGNEE, "user_id", assignees), (_INSERT_LABEL, "label_id", labels),
                                        (_INSERT_WATCHER, "user_id", watchers)):
            for ref in refs:
                await statement.run(uow.session, {"card_id": card["id"], column: ref})
        # a new card's relations are the ones just written, and its counts are zero: no query
        out = CardRead.model_validate({**{name: card[name] for name in _CARD_COLUMNS}, "assignee_ids": sorted(assignees),
                                       "label_ids": sorted(labels), "watcher_ids": sorted(watchers)})
        uow.emit(events.CardCreated(card=out), board=board, card_id=card["id"])
        await uow.commit(response=out)
    return out


_LINK = CardLink.__table__.c
_CARD_LINKS = Prepared(select(*_LINK).where(_LINK.card_id == bindparam("card_id")).order_by(_LINK.position, _LINK.id))


async def card_links(session: AsyncSession, card_id: uuid.UUID) -> list[CardLinkRead]:
    """A card's links (imported attachments), in order; the cover is flagged."""
    rows = await _CARD_LINKS.all(session, {"card_id": card_id})
    return [CardLinkRead.model_validate(r) for r in rows]


async def get_card(session: AsyncSession, actor: Actor, card_id: uuid.UUID) -> CardRead:
    """A card the caller can see (plain rows: opening a card is one of the most frequent requests)."""
    card = await _CARD_ROW.first(session, {"card_id": card_id})
    if card is None:
        raise NotFound("No such card.")
    await boards.board_stamp(session, actor, card.board_id, "card")
    return await card_read(session, dict(card._mapping))


@command
async def update_card(uow: UnitOfWork, actor: Actor, card_id: uuid.UUID, cmd: CardUpdate) -> CardRead:
    """Change a card's fields (null clears start_at/due_at)."""
    changes = cmd.model_dump(exclude_unset=True)
    async with uow:
        board, card = await locked_card_row(uow, actor, card_id, "board.write")
        if changes.get("cover_attachment_id") is not None:
            await _require_cover(uow.session, card_id, changes["cover_attachment_id"])
        start_at, due_at = changes.get("start_at", card["start_at"]), changes.get("due_at", card["due_at"])
        if start_at is not None and due_at is not None and start_at > due_at:
            raise InvalidInput("start_at must not be after due_at")
        await _update_card_row(uow, card, {**changes, "updated_at": utcnow()})
        out = await card_read(uow.session, card)
        uow.emit(events.CardUpdated(card=out, changes=sorted(changes)), board=board, card_id=card_id)
        await uow.commit()
    return out


@command
async def move_card(uow: UnitOfWork, actor: Actor, card_id: uuid.UUID, cmd: CardMove) -> CardRead:
    """Move a card to a list of the same board, between two neighbours: one row rewritten."""
    async with uow:
        board, card = await locked_card_row(uow, actor, card_id, "board.write")
        if await board_lists.list_board_id(uow.session, cmd.list_id) != board.id:
            raise InvalidInput("list_id is not a list on this card's board")
        from_list = card["list_id"]
        position = await ordering.position_for(
            uow.session, Card, Card.list_id, cmd.list_id,
            after_id=cmd.after_id, before_id=cmd.before_id, exclude_id=card_id, what="card",
        )
        await _update_card_row(uow, card, {"position": position, "list_id": cmd.list_id, "updated_at": utcnow()})
        out = await card_read(uow.session, card)
        uow.emit(events.CardMoved(card=out, from_list_id=from_list), board=board, card_id=card_id)
        await uow.commit(response=out)
    return out


@command
async def set_assignee(uow: UnitOfWork, actor: Actor, card_id: uuid.UUID, user_id: uuid.UUID, *, on: bool) -> CardRead:
    """Assign or unassign a board user; assignees watch the card."""
    async with uow:
        board, card = await locked_card(uow, actor, card_id, "board.write")
        existing = await uow.session.get(CardAssignee, (card.id, user_id))
        if on and existing is None:
            await _require_board_user(uow.session, board, user_id, "user_id")
            uow.session.add(CardAssignee(card_id=card.id, user_id=user_id))
            if await uow.session.get(CardWatcher, (card.id, user_id)) is None:
                uow.session.add(CardWatcher(card_id=card.id, user_id=user_id))
            uow.emit(events.CardAssigneeAdded(card_id=card.id, user_id=user_id), board=board, card_id=card.id)
        elif not on and existing is not None:
            await uow.session.delete(existing)
            uow.emit(events.CardAssigneeRemoved(card_id=card.id, user_id=user_id), board=board, card_id=card.id)
        await uow.session.flush()
        out = await card_read(uow.session, card)
        await uow.commit(response=out)
    return out


@command
async def set_label(uow: UnitOfWork, actor: Actor, card_id: uuid.UUID, label_id: uuid.UUID, *, on: bool) -> CardRead:
    """Put a board label on a card, or take it off."""
    async with uow:
        board, card = await locked_card(uow, actor, card_id, "board.write")
        existing = await uow.session.get(CardLabel, (card.id, label_id))
        if on and existing is None:
            await _require_board_label(uow.session, board, label_id)
            uow.session.add(CardLabel(card_id=card.id, label_id=label_id))
            uow.emit(events.CardLabelAdded(card_id=card.id, label_id=label_id), board=board, card_id=card.id)
        elif not on and existing is not None:
            await uow.session.delete(existing)
            uow.emit(events.CardLabelRemoved(card_id=card.id, label_id=label_id), board=board, card_id=card.id)
        elif not on:
            raise NotFound("That label is not on this card.")
        await uow.session.flush()
        out = await card_read(uow.session, card)
        await uow.commit(response=out)
    return out


def like_pattern(text: str) -> str:
    """`text` as a case-insensitive LIKE pattern matching it anywhere (escape character: backslash)."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search_cards(
    session: AsyncSession, actor: Actor, board_id: uuid.UUID, *, q: str | None, label: uuid.UUID | None,
    assignee: uuid.UUID | None, due_before: dt.datetime | None, archived: bool | None, list_id: uuid.UUID | None,
    cursor: str | None, limit: int,
) -> tuple[list[CardRead], str | None]:
    """Cards of a board matching every given filter, oldest first."""
    await boards.readable_board(session, actor, board_id)
    stmt = select(Card).where(Card.board_id == board_id, Card.deleted_at.is_(None)).order_by(Card.id).limit(limit + 1)
    if q:
        stmt = stmt.where(func.lower(Card.title).like(like_pattern(q), escape="\\"))
    if label is not None:
        stmt = stmt.where(Card.id.in_(select(CardLabel.card_id).where(CardLabel.label_id == label)))
    if assignee is not None:
        stmt = stmt.where(Card.id.in_(select(CardAssignee.card_id).where(CardAssignee.user_id == assignee)))
    if due_before is not None:
        stmt = stmt.where(Card.due_at.is_not(None), Card.due_at < due_before)
    if archived is not None:
        stmt = stmt.where(Card.archived.is_(archived))
    if list_id is not None:
        stmt = stmt.where(Card.list_id == list_id)
    after = decode_cursor(cursor)
    if after is not None:
        stmt = stmt.where(Card.id > after)
    rows, next_cursor = page_of(list((await session.execute(stmt)).scalars()), limit)
    return await card_reads(session, rows), next_cursor


async def my_tasks(
    session: AsyncSession, actor: Actor, *, due_before: dt.datetime | None, due_after: dt.datetime | None,
    include_completed: bool, cursor: str | None, limit: int,
) -> tuple[list[CardRead], str | None]:
    """Open cards assigned to the caller across every board they can still see."""
    stmt = (
        select(Card)
        .join(CardAssignee, CardAssignee.card_id == Card.id)
        .where(CardAssignee.user_id == actor.user_id, Card.archived.is_(False), Card.deleted_at.is_(None))
        .order_by(Card.id)
    )
    if not include_completed:
        stmt = stmt.where(Card.completed.is_(False))
    if due_before is not None:
        stmt = stmt.where(Card.due_at.is_not(None), Card.due_at < due_before)
    if due_after is not None:
        stmt = stmt.where(Card.due_at.is_not(None), Card.due_at >= due_after)
    after = decode_cursor(cursor)
    if after is not None:
        stmt = stmt.where(Card.id > after)
    visible: dict[uuid.UUID, bool] = {}
    found: list[Card] = []
    scan = limit * 4 + 1
    scanned = list((await session.execute(stmt.limit(scan))).scalars())
    for card in scanned:
        if card.board_id not in visible:
            try:
                await boards.readable_board(session, actor, card.board_id)
                visible[card.board_id] = True
            except NotFound:
                visible[card.board_id] = False
        if visible[card.board_id]:
            found.append(card)
            if len(found) > limit:
                break
    rows, next_cursor = page_of(found, limit)
    if next_cursor is None and len(scanned) == scan:  # only cards on hidden boards so far: keep going
        next_cursor = encode_cursor(scanned[-1].id)
    return await card_reads(session, rows), next_cursor


async def snapshot_cards(session: AsyncSession, board_id: uuid.UUID, list_ids: list[uuid.UUID]) -> list[CardRead]:
    """Open cards on the given (open, ordered) lists: in list order, then position, then id, for snapshots
    (boards/snapshot.py orders patched snapshots the same way)."""
    if not list_ids:
        return []
    order = {list_id: i for i, list_id in enumerate(list_ids)}
    # plain rows, not ORM objects: nothing here is changed, and a snapshot reads hundreds of cards;
    # the cards of archived lists are left out here, not in SQL: one statement text for every board
    rows = await _OPEN_CARDS.all(session, {"board_id": board_id})
    cards = sorted((c for c in rows if c.list_id in order), key=lambda c: order[c.list_id])  # stable: by position
    return await card_reads(session, cards, board_id=board_id)


_OPEN_CARDS = Prepared(
    select(*Card.__table__.c)
    .where(Card.board_id == bindparam("board_id"), Card.archived.is_(False), Card.deleted_at.is_(None))
    .order_by(Card.position, Card.id)
)
_CARDS_BY_ID = Prepared(select(*Card.__table__.c).where(Card.id.in_(bindparam("ids", expanding=True)),
                                                        Card.deleted_at.is_(None)))


async def cards_by_id(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[CardRead]:
    """These cards with their relations, in no particular order (missing ones, and those in the trash, left out)."""
    if not ids:
        return []
    return await card_reads(session, await _CARDS_BY_ID.all(session, {"ids": list(ids)}))

