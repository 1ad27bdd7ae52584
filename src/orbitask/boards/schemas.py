"""Board request and response models."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from orbitask.auth.schemas import UserBrief
from orbitask.core.schemas import Input, Output

Color = Annotated[
    str,
    StringConstraints(
        pattern=r"^(green|yellow|orange|red|purple|blue|sky|lime|pink|black|gray|#[0-9a-fA-F]{6})$"
    ),
    Field(description="a palette name (green, yellow, orange, red, purple, blue, sky, lime, pink, black, gray) or #rrggbb"),
]
BoardName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
BoardRoleIn = Literal["admin", "editor", "commenter", "viewer"]
Visibility = Literal["workspace", "private"]


class BoardCreate(Input):
    name: BoardName
    description: Annotated[str, Field(max_length=16384)] = ""
    color: Color = "blue"
    visibility: Visibility = "workspace"


class BoardUpdate(Input):
    name: BoardName | None = None
    description: Annotated[str, Field(max_length=16384)] | None = None
    color: Color | None = None
    visibility: Visibility | None = None
    archived: bool | None = None


class BoardRead(Output):
    id: uuid.UUID
    workspace_id: uuid.UUID
    name: str
    description: str
    color: str
    visibility: str
    archived: bool
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class BoardSummary(BoardRead):
    role: str | None = None


class BoardMemberAdd(Input):
    user_id: uuid.UUID = Field(description="someone already in the board's workspace; anyone else first accepts "
                                           "a workspace invitation link")
    role: BoardRoleIn = "editor"


class BoardMemberUpdate(Input):
    role: BoardRoleIn


class BoardMemberRead(Output):
    user: UserBrief
    role: str
    explicit: bool = True


class ListCreate(Input):
    name: BoardName
    after_id: uuid.UUID | None = None
    before_id: uuid.UUID | None = None


class ListUpdate(Input):
    name: BoardName | None = None
    archived: bool | None = None


class ListMove(Input):
    after_id: uuid.UUID | None = None
    before_id: uuid.UUID | None = None


class ListRead(Output):
    id: uuid.UUID
    board_id: uuid.UUID
    name: str
    position: str
    archived: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class LabelCreate(Input):
    name: Annotated[str, Field(max_length=100)] = ""
    color: Color


class LabelUpdate(Input):
    name: Annotated[str, Field(max_length=100)] | None = None
    color: Color | None = None


class LabelRead(Output):
    id: uuid.UUID
    board_id: uuid.UUID
    name: str
    color: str


class BoardSnapshot(Output):
    """Everything needed to draw a board, at one version."""

    board: BoardRead
    version: int
    role: str
    lists: list[ListRead]
    cards: list[dict[str, Any]]
    labels: list[LabelRead]
    members: list[BoardMemberRead]
