"""Board HTTP routes."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from orbitask.auth.deps import CurrentActor, ReadSession, RuntimeDep, Uow
from orbitask.boards import lists, service
from orbitask.boards.schemas import (
    BoardCreate,
    BoardMemberAdd,
    BoardMemberRead,
    BoardMemberUpdate,
    BoardRead,
    BoardSnapshot,
    BoardSummary,
    BoardUpdate,
    LabelCreate,
    LabelRead,
    LabelUpdate,
    ListCreate,
    ListMove,
    ListRead,
    ListUpdate,
)
from orbitask.boards.snapshot import board_snapshot
from orbitask.core.events import EventRead
from orbitask.core.pagination import DEFAULT_LIMIT, Limit, Page
from orbitask.core.schemas import DbInt, Output

router = APIRouter(tags=["boards"])


class EventPage(Output):
    items: list[EventRead]
    board_version: int
    has_more: bool


@router.post("/workspaces/{workspace_id}/boards", status_code=status.HTTP_201_CREATED, response_model=BoardRead)
async def create_board(workspace_id: uuid.UUID, cmd: BoardCreate, actor: CurrentActor, uow: Uow) -> BoardRead:
    """A new board in the workspace."""
    return await service.create_board(uow, actor, workspace_id, cmd)


@router.get("/workspaces/{workspace_id}/boards", response_model=Page[BoardSummary])
async def list_boards(
    workspace_id: uuid.UUID, actor: CurrentActor, session: ReadSession, archived: bool | None = None,
    cursor: str | None = None, limit: Limit = DEFAULT_LIMIT,
) -> Page[BoardSummary]:
    """Boards of the workspace the caller can see."""
    items, next_cursor = await service.list_boards(
        session, actor, workspace_id, archived=archived, cursor=cursor, limit=limit
    )
    return Page(items=items, next_cursor=next_cursor)


@router.get("/boards/{board_id}", response_model=BoardSnapshot)
async def get_board(
    board_id: uuid.UUID, request: Request, actor: CurrentActor, session: ReadSession, rt: RuntimeDep
) -> Response:
    """Full snapshot: board, lists, cards, labels, members and version (gzip when accepted)."""
    gzipped = "gzip" in request.headers.get("accept-encoding", "")
    body = await board_snapshot(session, rt.cache, actor, board_id, gzipped=gzipped, objects=rt.objects)
    headers = {"Vary": "Accept-Encoding", "Cache-Control": "private, no-cache"}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type="application/json", headers=headers)


@router.patch("/boards/{board_id}", response_model=BoardRead)
async def update_board(board_id: uuid.UUID, cmd: BoardUpdate, actor: CurrentActor, uow: Uow) -> BoardRead:
    """Change name, description, colour, visibility or archived."""
    return await service.update_board(uow, actor, board_id, cmd)


@router.delete("/boards/{board_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_board(board_id: uuid.UUID, actor: CurrentActor, uow: Uow) -> None:
    """Delete a board."""
    await service.delete_board(uow, actor, board_id)


@router.get("/boards/{board_id}/events", response_model=EventPage)
async def board_events(
    board_id: uuid.UUID, actor: CurrentActor, session: ReadSession,
    after_version: Annotated[DbInt, Query(ge=0)] = 0, limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> EventPage:
    """Events after a version, in order, to catch up without reloading."""
    items, version = await service.list_events(session, actor, board_id, after_version=after_version, limit=limit)
    last = items[-1].board_version if items else after_version
    return EventPage(items=items, board_version=version, has_more=(last or 0) < version)


@router.get("/boards/{board_id}/members", response_model=list[BoardMemberRead])
async def list_members(board_id: uuid.UUID, actor: CurrentActor, session: ReadSession) -> list[BoardMemberRead]:
    """Everyone who can see the board, with their role."""
    return await service.list_members(session, actor, board_id)


@router.post("/boards/{board_id}/members", status_code=status.HTTP_201_CREATED, response_model=BoardMemberRead)
async def add_member(board_id: uuid.UUID, cmd: BoardMemberAdd, actor: CurrentActor, uow: Uow) -> BoardMemberRead:
    """Give a user a role on the board."""
    return await service.add_member(uow, actor, board_id, cmd)


@router.patch("/boards/{board_id}/members/{user_id}", response_model=BoardMemberRead)
async def update_member(
    board_id: uuid.UUID, user_id: uuid.UUID, cmd: BoardMemberUpdate, actor: CurrentActor, uow: Uow
) -> BoardMemberRead:
    """Change a member's role."""
    return await service.update_member(uow, actor, board_id, user_id, cmd)


@router.delete("/boards/{board_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_member(board_id: uuid.UUID, user_id: uuid.UUID, actor: CurrentActor, uow: Uow) -> None:
    """Remove a member, or leave the board."""
    await service.remove_member(uow, actor, board_id, user_id)


@router.post("/boards/{board_id}/lists", status_code=status.HTTP_201_CREATED, response_model=ListRead)
async def create_list(board_id: uuid.UUID, cmd: ListCreate, actor: CurrentActor, uow: Uow) -> ListRead:
    """A new list."""
    return await lists.create_list(uow, actor, board_id, cmd)


@router.patch("/lists/{list_id}", response_model=ListRead)
async def update_list(list_id: uuid.UUID, cmd: ListUpdate, actor: CurrentActor, uow: Uow) -> ListRead:
    """Rename or archive a list."""
    return await lists.update_list(uow, actor, list_id, cmd)


@router.post("/lists/{list_id}/move", response_model=ListRead)
async def move_list(list_id: uuid.UUID, cmd: ListMove, actor: CurrentActor, uow: Uow) -> ListRead:
    """Move a list between two others."""
    return await lists.move_list(uow, actor, list_id, cmd)


@router.post("/boards/{board_id}/labels", status_code=status.HTTP_201_CREATED, response_model=LabelRead)
async def create_label(board_id: uuid.UUID, cmd: LabelCreate, actor: CurrentActor, uow: Uow) -> LabelRead:
    """A new label."""
    return await lists.create_label(uow, actor, board_id, cmd)


@router.patch("/labels/{label_id}", response_model=LabelRead)
async def update_label(label_id: uuid.UUID, cmd: LabelUpdate, actor: CurrentActor, uow: Uow) -> LabelRead:
    """Rename or recolour a label."""
    return await lists.update_label(uow, actor, label_id, cmd)


@router.delete("/labels/{label_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_label(label_id: uuid.UUID, actor: CurrentActor, uow: Uow) -> None:
    """Delete a label."""
    await lists.delete_label(uow, actor, label_id)
