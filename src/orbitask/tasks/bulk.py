"""Cards and what hangs off them, in bulk: what imports write and exports read (caller's transaction)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.boards import limits as board_limits
from orbitask.core.bulk import replace_children, upsert
from orbitask.core.db import utcnow
from orbitask.tasks import limits
from orbitask.tasks.models import (
    Card,
    CardAssignee,
    CardLabel,
    CardLink,
    CardWatcher,
    Checklist,
    ChecklistItem,
    Comment,
    CommentMention,
)

_OWNED = {"checklist": Checklist, "item": ChecklistItem, "comment": Comment, "link": CardLink}
_COUNT_CARDS = board_limits.counter(Card.board_id)


async def ids_on_board(session: AsyncSession, kind: str, board_id: uuid.UUID) -> AsyncIterator[list[uuid.UUID]]:
    """Ids of the board's cards, checklists, items, comments or links, a chunk at a time."""
    if kind == "card":
        stmt = select(Card.id).where(Card.board_id == board_id)
    else:
        model = _OWNED[kind]
        stmt = select(model.id).join(Card, Card.id == model.card_id).where(Card.board_id == board_id)
    result = await session.stream(stmt.execution_options(yield_per=5000))
    async for chunk in result.scalars().partitions(5000):
        yield list(chunk)


async def write_cards(
    session: AsyncSession, board_id: uuid.UUID, new: list[dict[str, Any]], old: list[dict[str, Any]],
    relations: dict[str, list[tuple[uuid.UUID, uuid.UUID]]],
) -> None:
    """Insert and update cards, and make their assignees, watchers and labels exactly the given pairs.

    409 limit-reached when the new cards would take the board past limits.MAX_CARDS_PER_BOARD.
    """
    await board_limits.require_room(session, _COUNT_CARDS, board_id, cap=limits.MAX_CARDS_PER_BOARD, what="cards",
                                    adding=len(new))
    now = utcnow()
    await upsert(session, Card, [{"created_at": now, **r, "board_id": board_id, "updated_at": now} for r in new],
                 [{**r, "updated_at": now} for r in old])
    ids = [r["id"] for r in old]  # new cards have no relations yet
    for kind, model, column in (("assignees", CardAssignee, "user_id"), ("watchers", CardWatcher, "user_id"),
                                ("labels", CardLabel, "label_id")):
        rows = [{"card_id": c, column: ref} for c, ref in dict.fromkeys(relations.get(kind, []))]
        await replace_children(session, model, model.card_id, ids, rows)


async def write_checklists(session: AsyncSession, new: list[dict[str, Any]], old: list[dict[str, Any]]) -> None:
    """Insert and update checklists (id, card_id, title, position)."""
    await upsert(session, Checklist, [{**r, "created_at": utcnow()} for r in new], old)


async def write_items(session: AsyncSession, new: list[dict[str, Any]], old: list[dict[str, Any]]) -> None:
    """Insert and update checklist items (id, checklist_id, card_id, text, position, done, assignee_id, due_at)."""
    await upsert(session, ChecklistItem, [{**r, "created_at": utcnow()} for r in new], old)


async def write_comments(
    session: AsyncSession, new: list[dict[str, Any]], old: list[dict[str, Any]],
    mentions: list[tuple[uuid.UUID, uuid.UUID]],
) -> None:
    """Insert and update comments (id, card_id, author_id, body, created_at, edited_at) and their mentions."""
    await upsert(session, Comment, new, old)
    rows = [{"comment_id": c, "user_id": u} for c, u in dict.fromkeys(mentions)]
    await replace_children(session, CommentMention, CommentMention.comment_id, [r["id"] for r in old], rows)


async def write_links(session: AsyncSession, new: list[dict[str, Any]], old: list[dict[str, Any]]) -> None:
    """Insert and update card links (id, card_id, url, name, position, is_cover)."""
    await upsert(session, CardLink, [{**r, "created_at": utcnow()} for r in new], old)


def _group(rows: Any, key: str) -> dict[uuid.UUID, list[Any]]:
    out: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for row in rows:
        out[getattr(row, key)].append(row)
    return out


async def card_batches(session: AsyncSession, board_id: uuid.UUID, size: int = 500) -> AsyncIterator[list[dict[str, Any]]]:
    """Every card of a board (archived too, not those in the trash) with its relations, checklists, comments and
    links, in batches."""
    after: uuid.UUID | None = None
    while True:
        stmt = select(Card).where(Card.board_id == board_id, Card.deleted_at.is_(None)).order_by(Card.id).limit(size)
        if after is not None:
            stmt = stmt.where(Card.id > after)
        cards = list((await session.execute(stmt)).scalars())
        if not cards:
            return
        after = cards[-1].id
        yield await _with_children(session, cards)


async def _with_children(session: AsyncSession, cards: list[Card]) -> list[dict[str, Any]]:
    ids = [c.id for c in cards]
    pairs: dict[str, dict[uuid.UUID, list[uuid.UUID]]] = {}
    for name, model, column in (("assignee_ids", CardAssignee, "user_id"), ("watcher_ids", CardWatcher, "user_id"),
                                ("label_ids", CardLabel, "label_id")):
        found: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
        for card_id, ref in (await session.execute(
            select(model.card_id, getattr(model, column)).where(model.card_id.in_(ids))
        )).all():
            found[card_id].append(ref)
        pairs[name] = found

    def ordered(model: Any) -> Any:
        return select(model).where(model.card_id.in_(ids)).order_by(model.position, model.id)

    checklists = _group((await session.execute(ordered(Checklist))).scalars(), "card_id")
    items = _group((await session.execute(ordered(ChecklistItem))).scalars(), "checklist_id")
    links = _group((await session.execute(ordered(CardLink))).scalars(), "card_id")
    comment_rows = list((await session.execute(
        select(Comment).where(Comment.card_id.in_(ids), Comment.deleted_at.is_(None)).order_by(Comment.id)
    )).scalars())
    mentions: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    if comment_rows:
        for comment_id, user_id in (await session.execute(select(CommentMention.comment_id, CommentMention.user_id)
                                    .where(CommentMention.comment_id.in_([c.id for c in comment_rows])))).all():
            mentions[comment_id].append(user_id)
    comments = _group(comment_rows, "card_id")
    out = []
    for c in cards:
        out.append({
            "id": c.id, "list_id": c.list_id, "title": c.title, "description": c.description, "position": c.position,
            "start_at": c.start_at, "due_at": c.due_at, "completed": c.completed, "archived": c.archived,
            "created_by": c.created_by, "created_at": c.created_at, "updated_at": c.updated_at,
            **{name: sorted(found.get(c.id, [])) for name, found in pairs.items()},
            "checklists": [{
                "id": cl.id, "title": cl.title, "position": cl.position,
                "items": [{"id": i.id, "text": i.text, "position": i.position, "done": i.done,
                           "assignee_id": i.assignee_id, "due_at": i.due_at} for i in items.get(cl.id, [])],
            } for cl in checklists.get(c.id, [])],
            "comments": [{"id": m.id, "author_id": m.author_id, "body": m.body, "created_at": m.created_at,
                          "edited_at": m.edited_at, "mentions": sorted(mentions.get(m.id, []))}
                         for m in comments.get(c.id, [])],
            "links": [{"id": li.id, "url": li.url, "name": li.name, "position": li.position, "is_cover": li.is_cover}
                      for li in links.get(c.id, [])],
        })
    return out
