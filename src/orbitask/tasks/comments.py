"""Comments with @mentions, and a card's activity."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.auth.policy import Actor
from orbitask.boards import service as boards
from orbitask.core.db import utcnow
from orbitask.core.errors import Forbidden, NotFound
from orbitask.core.events import Event, EventRead
from orbitask.core.ids import new_id
from orbitask.core.pagination import decode_cursor, page_of
from orbitask.core.prepared import Prepared
from orbitask.core.uow import UnitOfWork, command
from orbitask.tasks import events
from orbitask.tasks.models import Comment, CommentMention
from orbitask.tasks.schemas import CommentCreate, CommentRead, CommentUpdate
from orbitask.tasks.service import locked_card_row, readable_card

_INSERT_COMMENT = Prepared(insert(Comment.__table__))
_INSERT_MENTION = insert(CommentMention.__table__)
MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9._%+-]+(?:@[A-Za-z0-9.-]+\.[A-Za-z]{2,})?)")


async def _mentioned(session: AsyncSession, board: object, body: str, named: list[uuid.UUID]) -> list[uuid.UUID]:
    """Board users named in `body` as @email or @local-part (when unambiguous), and those of `named` (the
    people the web app's @Name picks stand for) who are on the board."""
    handles = {h.lower().rstrip(".") for h in MENTION.findall(body)}
    if not handles and not named:
        return []
    members = await boards.board_members(session, board)  # type: ignore[arg-type]
    on_board = {m.user.id for m in members}
    picked = [u for u in named if u in on_board]
    by_email = {m.user.email.lower(): m.user.id for m in members}
    by_local: dict[str, list[uuid.UUID]] = {}
    for email, user_id in by_email.items():
        by_local.setdefault(email.split("@")[0], []).append(user_id)
    found: list[uuid.UUID] = []
    for handle in sorted(handles):
        if handle in by_email:
            found.append(by_email[handle])
        elif len(by_local.get(handle, [])) == 1:
            found.append(by_local[handle][0])
    return list(dict.fromkeys([*picked, *found]))


def _read(row: Comment, mentions: list[uuid.UUID]) -> CommentRead:
    out = CommentRead.model_validate(row)
    if row.deleted_at is not None:
        out.body = ""
    out.mentions = mentions
    return out


@command
async def create_comment(uow: UnitOfWork, actor: Actor, card_id: uuid.UUID, cmd: CommentCreate) -> CommentRead:
    """A comment on a card (commenters and up); mentions are recorded."""
    async with uow:
        board, _ = await locked_card_row(uow, actor, card_id, "card.comment")
        values = {"id": new_id(), "card_id": card_id, "author_id": actor.user_id, "body": cmd.body,
                  "created_at": utcnow(), "edited_at": None, "deleted_at": None}
        await _INSERT_COMMENT.run(uow.session, values)
        mentions = await _mentioned(uow.session, board, cmd.body, cmd.mentions)
        if mentions:
            await uow.session.execute(_INSERT_MENTION, [{"comment_id": values["id"], "user_id": u} for u in mentions])
        out = CommentRead(**values, mentions=mentions)
        uow.emit(events.CommentCreated(comment=out), board=board, card_id=card_id)
        await uow.commit(response=out)
    return out


async def list_comments(
    session: AsyncSession, actor: Actor, card_id: uuid.UUID, *, cursor: str | None, limit: int
) -> tuple[list[CommentRead], str | None]:
    """A card's comments, oldest first (deleted ones keep their place, without text)."""
    await readable_card(session, actor, card_id)
    stmt = select(Comment).where(Comment.card_id == card_id).order_by(Comment.id).limit(limit + 1)
    after = decode_cursor(cursor)
    if after is not None:
        stmt = stmt.where(Comment.id > after)
    rows, next_cursor = page_of(list((await session.execute(stmt)).scalars()), limit)
    mentions: dict[uuid.UUID, list[uuid.UUID]] = {}
    if rows:
        found = await session.execute(
            select(CommentMention.comment_id, CommentMention.user_id)
            .where(CommentMention.comment_id.in_([r.id for r in rows]))
        )
        for comment_id, user_id in found.all():
            mentions.setdefault(comment_id, []).append(user_id)
    return [_read(r, mentions.get(r.id, [])) for r in rows], next_cursor


async def _locked_comment(uow: UnitOfWork, actor: Actor, comment_id: uuid.UUID, action: str):  # noqa: ANN202
    card_id = await uow.session.scalar(select(Comment.card_id).where(Comment.id == comment_id))
    if card_id is None:
        raise NotFound("No such comment.")
    board, _ = await locked_card_row(uow, actor, card_id, "board.read", "comment")
    row = await uow.session.get(Comment, comment_id)
    if row is None or row.deleted_at is not None:
        raise NotFound("No such comment.")
    role = await boards.role_on_board(uow.session, board, actor.user_id)
    if row.author_id != actor.user_id and not (action == "delete" and role == "admin"):
        raise Forbidden("Only the author can change this comment." if action == "edit"
                        else "Only the author or a board admin can delete this comment.")
    return board, row


@command
async def update_comment(uow: UnitOfWork, actor: Actor, comment_id: uuid.UUID, cmd: CommentUpdate) -> CommentRead:
    """Edit one's own comment; mentions are recomputed."""
    async with uow:
        board, row = await _locked_comment(uow, actor, comment_id, "edit")
        row.body = cmd.body
        row.edited_at = utcnow()
        old = set((await uow.session.execute(
            select(CommentMention.user_id).where(CommentMention.comment_id == row.id)
        )).scalars())
        mentions = await _mentioned(uow.session, board, cmd.body, cmd.mentions)
        for user_id in set(mentions) - old:
            uow.session.add(CommentMention(comment_id=row.id, user_id=user_id))
        for user_id in old - set(mentions):
            stale = await uow.session.get(CommentMention, (row.id, user_id))
            if stale is not None:
                await uow.session.delete(stale)
        out = _read(row, mentions)
        uow.emit(events.CommentUpdated(comment=out), board=board, card_id=row.card_id)
        await uow.commit()
    return out


@command
async def delete_comment(uow: UnitOfWork, actor: Actor, comment_id: uuid.UUID) -> None:
    """Delete a comment (author or board admin); it stays as a 'deleted' placeholder."""
    async with uow:
        board, row = await _locked_comment(uow, actor, comment_id, "delete")
        row.deleted_at = utcnow()
        row.body = ""
        uow.emit(events.CommentDeleted(comment_id=row.id, card_id=row.card_id), board=board, card_id=row.card_id)
        await uow.commit()


async def card_activity(
    session: AsyncSession, actor: Actor, card_id: uuid.UUID, *, limit: int
) -> list[EventRead]:
    """What happened to a card, newest first (derived from the event log)."""
    await readable_card(session, actor, card_id)
    rows = await session.execute(
        select(Event).where(Event.card_id == card_id).order_by(Event.seq.desc()).limit(limit)
    )
    return [EventRead.model_validate(e) for e in rows.scalars()]
