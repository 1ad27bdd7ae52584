"""Trash and archive HTTP routes: delete a list, restore a card or list, list a board's archive and trash."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from orbitask.auth.deps import CurrentActor, ReadSession, RuntimeDep, Uow
from orbitask.boards.schemas import ListRead
from orbitask.core.pagination import DEFAULT_LIMIT, Limit
from orbitask.tasks import archive, trash
from orbitask.tasks.archive import ArchivePage, TrashPage
from orbitask.tasks.schemas import CardRead

router = APIRouter(tags=["trash"])
Title = Annotated[str | None, Query(max_length=200, description="words in the title, in any case")]


@router.delete("/lists/{list_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["boards"])
async def delete_list(list_id: uuid.UUID, actor: CurrentActor, uow: Uow) -> None:
    """Move a list and its cards to the board's trash."""
    await trash.delete_list(uow, actor, list_id)


@router.post("/cards/{card_id}/restore", response_model=CardRead)
async def restore_card(card_id: uuid.UUID, actor: CurrentActor, uow: Uow, rt: RuntimeDep) -> CardRead:
    """Bring a card back from the trash to its place (409 while its list is in the trash: restore that first)."""
    return await trash.restore_card(uow, actor, card_id, retention_days=rt.settings.trash_retention_days)


@router.post("/lists/{list_id}/restore", response_model=ListRead)
async def restore_list(list_id: uuid.UUID, actor: CurrentActor, uow: Uow, rt: RuntimeDep) -> ListRead:
    """Bring a list back from the trash to its place, with the cards deleted with it."""
    return await trash.restore_list(uow, actor, list_id, retention_days=rt.settings.trash_retention_days)


@router.get("/boards/{board_id}/trash", response_model=TrashPage)
async def board_trash(
    board_id: uuid.UUID, actor: CurrentActor, session: ReadSession, q: Title = None, cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> TrashPage:
    """Cards and lists in the board's trash, newest deletion first, with who deleted them (editors and up)."""
    items, next_cursor = await archive.list_trash(session, actor, board_id, q=q, cursor=cursor, limit=limit)
    return TrashPage(items=items, next_cursor=next_cursor)


@router.get("/boards/{board_id}/archive", response_model=ArchivePage)
async def board_archive(
    board_id: uuid.UUID, actor: CurrentActor, session: ReadSession, q: Title = None, cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> ArchivePage:
    """Archived cards and lists of the board, newest first (restore: PATCH archived=false)."""
    items, next_cursor = await archive.list_archive(session, actor, board_id, q=q, cursor=cursor, limit=limit)
    return ArchivePage(items=items, next_cursor=next_cursor)
