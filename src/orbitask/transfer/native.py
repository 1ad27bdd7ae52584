"""Orbitask's own export format (version 1), streamed into the staging spool for re-import.

The document is one JSON object with flat top-level arrays, so it streams like a Trello
export: `members`, `boards`, `lists` (with `board_id`), `labels` (with `board_id`) and
`cards` (with `board_id`, `list_id` and their checklists, comments and links inside).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import IO, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from orbitask.boards.schemas import Color
from orbitask.transfer.spool import Spool
from orbitask.transfer.stream import ImportRejected, JsonStream, describe, shape_of
from orbitask.transfer.trello import When, is_web_url

FORMAT = "orbitask-export"
VERSION = 1
SOURCE = "orbitask"
WHAT = "an Orbitask export"


def _text(max_length: int, min_length: int = 0) -> Any:
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length)]


class _Row(BaseModel):
    model_config = ConfigDict(extra="ignore")


class MemberDoc(_Row):
    id: uuid.UUID
    name: _text(100)
    email: _text(254) | None = None
    username: _text(100) = ""
    placeholder: bool = False


class BoardDoc(_Row):
    id: uuid.UUID
    name: _text(200, 1)
    description: _text(16384) = ""
    color: Color = "blue"
    visibility: Literal["workspace", "private"] = "workspace"
    archived: bool = False


class BoardMemberDoc(_Row):
    board_id: uuid.UUID
    user_id: uuid.UUID
    role: Literal["admin", "editor", "commenter", "viewer"]


class ListDoc(_Row):
    id: uuid.UUID
    board_id: uuid.UUID
    name: _text(200, 1)
    position: _text(128)
    archived: bool = False


class LabelDoc(_Row):
    id: uuid.UUID
    board_id: uuid.UUID
    name: _text(100) = ""
    color: Color


class ItemDoc(_Row):
    id: uuid.UUID
    text: _text(1000, 1)
    position: _text(128)
    done: bool = False
    assignee_id: uuid.UUID | None = None
    due_at: When | None = None


class ChecklistDoc(_Row):
    id: uuid.UUID
    title: _text(200, 1)
    position: _text(128)
    items: list[ItemDoc] = []


class CommentDoc(_Row):
    id: uuid.UUID
    author_id: uuid.UUID | None = None
    body: _text(16384, 1)
    created_at: When
    edited_at: When | None = None
    mentions: list[uuid.UUID] = []


class LinkDoc(_Row):
    id: uuid.UUID
    url: _text(2048, 1)
    name: _text(256) = ""
    position: _text(128)
    is_cover: bool = False

    @field_validator("url")
    @classmethod
    def _web(cls, value: str) -> str:
        if not is_web_url(value):
            raise ValueError("must be an http or https URL")
        return value


class CardDoc(_Row):
    id: uuid.UUID
    board_id: uuid.UUID
    list_id: uuid.UUID
    title: _text(512, 1)
    description: Annotated[str, Field(max_length=65536)] = ""
    position: _text(128)
    start_at: When | None = None
    due_at: When | None = None
    completed: bool = False
    archived: bool = False
    created_at: When | None = None
    created_by: uuid.UUID | None = None
    assignee_ids: list[uuid.UUID] = []
    watcher_ids: list[uuid.UUID] = []
    label_ids: list[uuid.UUID] = []
    checklists: list[ChecklistDoc] = []
    comments: list[CommentDoc] = []
    links: list[LinkDoc] = []


def _when(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value is not None else None


def _ids(values: list[uuid.UUID]) -> list[str]:
    return [str(v) for v in values]


ARRAYS: dict[str, type[_Row]] = {"members": MemberDoc, "boards": BoardDoc, "board_members": BoardMemberDoc,
                                  "lists": ListDoc, "labels": LabelDoc, "cards": CardDoc}


def _stage(spool: Spool, key: str, value: Any) -> None:
    model = ARRAYS[key]
    what = f"{key[:-1].replace('_', ' ')} {value.get('id')!r}" if isinstance(value, dict) and "id" in value else key[:-1]
    if not isinstance(value, dict):
        raise ImportRejected("wrong-shape", f"{what}: expected a JSON object, got {type(value).__name__}.")
    try:
        row = model.model_validate(value)
    except ValidationError as exc:
        raise describe(exc, what) from None
    if isinstance(row, MemberDoc):
        spool.put("member", "-", str(row.id), {"name": row.name, "email": row.email, "username": row.username,
                                               "placeholder": row.placeholder})
    elif isinstance(row, BoardDoc):
        spool.put("board", str(row.id), str(row.id), row.model_dump(exclude={"id"}))
    elif isinstance(row, BoardMemberDoc):
        spool.put("role", str(row.board_id), f"{row.board_id}:{row.user_id}", {"user": str(row.user_id),
                                                                               "role": row.role})
    elif isinstance(row, ListDoc):
        spool.put("list", str(row.board_id), str(row.id), {"name": row.name, "archived": row.archived,
                                                            "position": row.position}, sort=row.position)
    elif isinstance(row, LabelDoc):
        spool.put("label", str(row.board_id), str(row.id), {"name": row.name, "color": row.color})
    else:
        _stage_card(spool, row)


def _stage_card(spool: Spool, card: CardDoc) -> None:
    board, card_id = str(card.board_id), str(card.id)
    spool.put("card", board, card_id, {
        "title": card.title, "description": card.description, "position": card.position,
        "start_at": _when(card.start_at), "due_at": _when(card.due_at), "completed": card.completed,
        "archived": card.archived, "created_at": _when(card.created_at), "assignees": _ids(card.assignee_ids),
        "creator": str(card.created_by) if card.created_by else None,
        "watchers": _ids(card.watcher_ids), "labels": _ids(card.label_ids),
    }, parent=str(card.list_id), sort=card.position)
    for checklist in card.checklists:
        spool.put("checklist", board, str(checklist.id), {"title": checklist.title, "position": checklist.position},
                  parent=card_id, sort=checklist.position)
        for item in checklist.items:
            spool.put("item", board, str(item.id), {
                "text": item.text, "position": item.position, "done": item.done,
                "assignee": str(item.assignee_id) if item.assignee_id else None, "due_at": _when(item.due_at),
            }, parent=str(checklist.id), sort=item.position)
    for comment in card.comments:
        spool.put("comment", board, str(comment.id), {
            "body": comment.body, "author": str(comment.author_id) if comment.author_id else None,
            "created_at": _when(comment.created_at), "edited_at": _when(comment.edited_at),
            "mentions": _ids(comment.mentions),
        }, parent=card_id, sort=_when(comment.created_at))
    for link in card.links:
        spool.put("link", board, str(link.id), {"url": link.url, "name": link.name, "position": link.position,
                                                "is_cover": link.is_cover}, parent=card_id, sort=link.position)


def read_native(raw: IO[bytes], spool: Spool) -> None:
    """Parse an Orbitask export into `spool` (one pass, one card's known fields in memory at a time)."""
    header: dict[str, Any] = {}
    stream = JsonStream(raw, WHAT, "export", fields={"format": None, "version": None},
                        arrays={key: shape_of(model) for key, model in ARRAYS.items()})
    for key, in_array, value in stream:
        if not in_array:
            header[key] = value
            if key == "format" and value != FORMAT:
                raise ImportRejected("wrong-shape", f"This JSON is not {WHAT} (its format is {str(value)[:40]!r}).")
            if key == "version" and value != VERSION:
                raise ImportRejected("unsupported-version", f"This Orbitask export has format version {value!r}; "
                                     f"this server reads version {VERSION}.")
            continue
        if header.get("format") != FORMAT:
            raise ImportRejected("wrong-shape", f"This JSON is not {WHAT}: it must start with "
                                 f'"format": "{FORMAT}" (a Trello export? import it as Trello).')
        _stage(spool, key, value)
    if header.get("format") != FORMAT or "version" not in header:
        raise ImportRejected("wrong-shape", f"This JSON is not {WHAT}: it has no \"format\" and \"version\".")
    if spool.count("board") == 0:
        raise ImportRejected("wrong-shape", f"This {WHAT[3:]} holds no boards.")
    spool.flush()
