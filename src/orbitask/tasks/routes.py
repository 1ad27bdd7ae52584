"""Task HTTP routes."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import AwareDatetime

from orbitask.auth.deps import CurrentActor, ReadSession, Uow
from orbitask.core.db import repeatable_read
from orbitask.core.events import EventRead
from orbitask.core.pagination import DEFAULT_LIMIT, Limit
from orbitask.tasks import attachment_routes, checklists, comments, service, trash, trash_routes, watching
from orbitask.tasks.schemas import (
    CardCreate,
    CardDetail,
    CardMove,
    CardPage,
    CardRead,
    CardUpdate,
    ChecklistCreate,
    ChecklistItemCreate,
    ChecklistItemRead,
    ChecklistItemUpdate,
    ChecklistRead,
    CommentCreate,
    CommentPage,
    CommentRead,
    CommentUpdate,
)

router = APIRouter(tags=["tasks"])


@router.post("/lists/{list_id}/cards", status_code=status.HTTP_201_CREATED, response_model=CardRead)
async def create_card(list_id: uuid.UUID, cmd: CardCreate, actor: CurrentActor, uow: Uow) -> CardRead:
    """A new card on a list."""
    return await service.create_card(uow, actor, list_id, cmd)


@router.get("/cards/{card_id}", response_model=CardDetail)
async def get_card(card_id: uuid.UUID, actor: CurrentActor, session: ReadSession) -> CardDetail:
    """A card with its checklists and links."""
    async with repeatable_read(session):
        card = await service.get_card(session, actor, card_id)
        found = await checklists.card_checklists(session, card_id)
        links = await service.card_links(session, card_id)
    return CardDetail(**card.model_dump(), checklists=found, links=links)


@router.patch("/cards/{card_id}", response_model=CardRead)
async def update_card(card_id: uuid.UUID, cmd: CardUpdate, actor: CurrentActor, uow: Uow) -> CardRead:
    """Change title, description, dates, completed or archived."""
    return await service.update_card(uow, actor, card_id, cmd)


@router.delete("/cards/{card_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_card(card_id: uuid.UUID, actor: CurrentActor, uow: Uow) -> None:
    """Move a card to the board's trash (POST /cards/{card_id}/restore brings it back)."""
    await trash.delete_card(uow, actor, card_id)


@router.post("/cards/{card_id}/move", response_model=CardRead)
async def move_card(card_id: uuid.UUID, cmd: CardMove, actor: CurrentActor, uow: Uow) -> CardRead:
    """Move a card within or across lists of its board."""
    return await service.move_card(uow, actor, card_id, cmd)


@router.get("/boards/{board_id}/cards", response_model=CardPage)
async def search_cards(
    board_id: uuid.UUID, actor: CurrentActor, session: ReadSession,
    q: Annotated[str | None, Query(max_length=200)] = None, label: uuid.UUID | None = None,
    assignee: uuid.UUID | None = None, due_before: AwareDatetime | None = None, archived: bool | None = None,
    list_id: uuid.UUID | None = None, cursor: str | None = None, limit: Limit = DEFAULT_LIMIT,
) -> CardPage:
    """Cards of a board by text, label, assignee, due date and archived state."""
    items, next_cursor = await service.search_cards(
        session, actor, board_id, q=q, label=label, assignee=assignee, due_before=due_before,
        archived=archived, list_id=list_id, cursor=cursor, limit=limit,
    )
    return CardPage(items=items, next_cursor=next_cursor)


@router.get("/me/tasks", response_model=CardPage)
async def my_tasks(
    actor: CurrentActor, session: ReadSession, due_before: AwareDatetime | None = None,
    due_after: AwareDatetime | None = None, include_completed: bool = False, cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> CardPage:
    """Cards assigned to me, across workspaces."""
    items, next_cursor = await service.my_tasks(
        session, actor, due_before=due_before, due_after=due_after, include_completed=include_completed,
        cursor=cursor, limit=limit,
    )
    return CardPage(items=items, next_cursor=next_cursor)


@router.post("/cards/{card_id}/assignees/{user_id}", response_model=CardRead)
async def add_assignee(card_id: uuid.UUID, user_id: uuid.UUID, actor: CurrentActor, uow: Uow) -> CardRead:
    """Assign a user."""
    return await service.set_assignee(uow, actor, card_id, user_id, on=True)


@router.delete("/cards/{card_id}/assignees/{user_id}", response_model=CardRead)
async def remove_assignee(card_id: uuid.UUID, user_id: uuid.UUID, actor: CurrentActor, uow: Uow) -> CardRead:
    """Unassign a user."""
    return await service.set_assignee(uow, actor, card_id, user_id, on=False)


@router.put("/cards/{card_id}/watch", response_model=CardRead)
async def watch_card(card_id: uuid.UUID, actor: CurrentActor, uow: Uow) -> CardRead:
    """Watch a card: be notified of its comments and changes."""
    return await watching.set_watching(uow, actor, card_id, on=True)


@router.delete("/cards/{card_id}/watch", response_model=CardRead)
async def unwatch_card(card_id: uuid.UUID, actor: CurrentActor, uow: Uow) -> CardRead:
    """Stop watching a card."""
    return await watching.set_watching(uow, actor, card_id, on=False)


@router.post("/cards/{card_id}/labels/{label_id}", response_model=CardRead)
async def add_label(card_id: uuid.UUID, label_id: uuid.UUID, actor: CurrentActor, uow: Uow) -> CardRead:
    """Put a label on a card."""
    return await service.set_label(uow, actor, card_id, label_id, on=True)


@router.delete("/cards/{card_id}/labels/{label_id}", response_model=CardRead)
async def remove_label(card_id: uuid.UUID, label_id: uuid.UUID, actor: CurrentActor, uow: Uow) -> CardRead:
    """Take a label off a card."""
    return await service.set_label(uow, actor, card_id, label_id, on=False)


@router.post("/cards/{card_id}/comments", status_code=status.HTTP_201_CREATED, response_model=CommentRead)
async def create_comment(card_id: uuid.UUID, cmd: CommentCreate, actor: CurrentActor, uow: Uow) -> CommentRead:
    """Comment on a card; @mentions are recorded."""
    return await comments.create_comment(uow, actor, card_id, cmd)


@router.get("/cards/{card_id}/comments", response_model=CommentPage)
async def list_comments(
    card_id: uuid.UUID, actor: CurrentActor, session: ReadSession, cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> CommentPage:
    """A card's comments, oldest first."""
    items, next_cursor = await comments.list_comments(session, actor, card_id, cursor=cursor, limit=limit)
    return CommentPage(items=items, next_cursor=next_cursor)


@router.patch("/comments/{comment_id}", response_model=CommentRead)
async def update_comment(comment_id: uuid.UUID, cmd: CommentUpdate, actor: CurrentActor, uow: Uow) -> CommentRead:
    """Edit one's comment."""
    return await comments.update_comment(uow, actor, comment_id, cmd)


@router.delete("/comments/{comment_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_comment(comment_id: uuid.UUID, actor: CurrentActor, uow: Uow) -> None:
    """Delete a comment."""
    await comments.delete_comment(uow, actor, comment_id)


@router.post("/cards/{card_id}/checklists", status_code=status.HTTP_201_CREATED, response_model=ChecklistRead)
async def create_checklist(card_id: uuid.UUID, cmd: ChecklistCreate, actor: CurrentActor, uow: Uow) -> ChecklistRead:
    """A new checklist on a card."""
    return await checklists.create_checklist(uow, actor, card_id, cmd)


@router.post("/checklists/{checklist_id}/items", status_code=status.HTTP_201_CREATED,
             response_model=ChecklistItemRead)
async def create_item(
    checklist_id: uuid.UUID, cmd: ChecklistItemCreate, actor: CurrentActor, uow: Uow
) -> ChecklistItemRead:
    """A new checklist item."""
    return await checklists.create_item(uow, actor, checklist_id, cmd)


@router.patch("/checklist-items/{item_id}", response_model=ChecklistItemRead)
async def update_item(item_id: uuid.UUID, cmd: ChecklistItemUpdate, actor: CurrentActor, uow: Uow) -> ChecklistItemRead:
    """Tick, rename, assign, date or move an item."""
    return await checklists.update_item(uow, actor, item_id, cmd)


@router.delete("/checklist-items/{item_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_item(item_id: uuid.UUID, actor: CurrentActor, uow: Uow) -> None:
    """Remove a checklist item."""
    await checklists.delete_item(uow, actor, item_id)


@router.get("/cards/{card_id}/activity", response_model=list[EventRead])
async def card_activity(
    card_id: uuid.UUID, actor: CurrentActor, session: ReadSession, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[EventRead]:
    """What happened to a card, newest first."""
    return await comments.card_activity(session, actor, card_id, limit=limit)




router.include_router(attachment_routes.router)
router.include_router(trash_routes.router)
