"""Search results."""

from __future__ import annotations

import uuid
from typing import Literal

from orbitask.core.schemas import Output
from orbitask.tasks.schemas import CardRead

Kind = Literal["title", "description", "comment", "item", "attachment"]
Due = Literal["overdue", "soon", "none", "any", "done"]


class SearchBoard(Output):
    id: uuid.UUID
    name: str
    workspace_id: uuid.UUID


class SearchList(Output):
    id: uuid.UUID
    name: str


class SnippetSegment(Output):
    text: str
    match: bool


class SearchHit(Output):
    """A card found, where it is, and the piece of its text that matched best, with the matches marked."""

    card: CardRead
    board: SearchBoard
    list: SearchList
    matched: Kind
    snippet: list[SnippetSegment]


class SearchPage(Output):
    items: list[SearchHit]
    next_cursor: str | None
