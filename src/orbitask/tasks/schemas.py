"""Task request and response models."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import AwareDatetime, Field, StringConstraints, TypeAdapter, model_validator

from orbitask.core.schemas import Input, Output

Title = Annotated[str, StringConstraints(min_length=1, max_length=512)]
Description = Annotated[str, Field(max_length=65536, description="markdown, at most 64 KiB")]
CommentBody = Annotated[str, StringConstraints(min_length=1, max_length=16384)]
MAX_MARKDOWN_BYTES = 65536


def _check_dates(start: dt.datetime | None, due: dt.datetime | None) -> None:
    if start is not None and due is not None and start > due:
        raise ValueError("start_at must not be after due_at")


class CardCreate(Input):
    title: Title
    description: Description = ""
    start_at: AwareDatetime | None = None
    due_at: AwareDatetime | None = None
    after_id: uuid.UUID | None = None
    before_id: uuid.UUID | None = None
    assignee_ids: Annotated[list[uuid.UUID], Field(max_length=50)] = []
    label_ids: Annotated[list[uuid.UUID], Field(max_length=50)] = []

    @model_validator(mode="after")
    def _valid(self) -> CardCreate:
        if len(self.description.encode()) > MAX_MARKDOWN_BYTES:
            raise ValueError("description must be at most 64 KiB")
        _check_dates(self.start_at, self.due_at)
        return self


class CardUpdate(Input):
    title: Title | None = None
    description: Description | None = None
    start_at: AwareDatetime | None = None
    due_at: AwareDatetime | None = None
    completed: bool | None = None
    archived: bool | None = None
    cover_attachment_id: uuid.UUID | None = Field(None, description="an image attachment of the card; null: no cover")

    @model_validator(mode="after")
    def _valid(self) -> CardUpdate:
        if self.description is not None and len(self.description.encode()) > MAX_MARKDOWN_BYTES:
            raise ValueError("description must be at most 64 KiB")
        for name in ("title", "description", "completed", "archived"):  # only the dates can be cleared
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        _check_dates(self.start_at, self.due_at)
        return self


class CardMove(Input):
    list_id: uuid.UUID
    after_id: uuid.UUID | None = None
    before_id: uuid.UUID | None = None


class CardRead(Output):
    id: uuid.UUID
    board_id: uuid.UUID
    list_id: uuid.UUID
    title: str
    description: str
    position: str
    start_at: dt.datetime | None
    due_at: dt.datetime | None
    completed: bool
    archived: bool
    created_by: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime
    assignee_ids: list[uuid.UUID] = []
    label_ids: list[uuid.UUID] = []
    watcher_ids: list[uuid.UUID] = []
    checklist_total: int = 0
    checklist_done: int = 0
    comment_count: int = 0
    cover_attachment_id: uuid.UUID | None = None
    attachment_count: int = 0


CARD_LIST = TypeAdapter(list[CardRead])  # validates or dumps many cards in one call (snapshots have hundreds)


class CardPage(Output):
    items: list[CardRead]
    next_cursor: str | None


class ChecklistCreate(Input):
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class ChecklistItemCreate(Input):
    text: Annotated[str, StringConstraints(min_length=1, max_length=1000)]
    assignee_id: uuid.UUID | None = None
    due_at: AwareDatetime | None = None
    after_id: uuid.UUID | None = None
    before_id: uuid.UUID | None = None


class ChecklistItemUpdate(Input):
    text: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = None
    done: bool | None = None
    assignee_id: uuid.UUID | None = None
    due_at: AwareDatetime | None = None
    after_id: uuid.UUID | None = None
    before_id: uuid.UUID | None = None


class ChecklistItemRead(Output):
    id: uuid.UUID
    checklist_id: uuid.UUID
    card_id: uuid.UUID
    text: str
    position: str
    done: bool
    assignee_id: uuid.UUID | None
    due_at: dt.datetime | None


class ChecklistRead(Output):
    id: uuid.UUID
    card_id: uuid.UUID
    title: str
    position: str
    items: list[ChecklistItemRead] = []


MentionIds = Annotated[list[uuid.UUID], Field(
    max_length=100, description="people the text names as @Name (board members; others are ignored), "
    "besides any @e-mail handles in the text")]


class CommentCreate(Input):
    body: CommentBody
    mentions: MentionIds = []


class CommentUpdate(Input):
    body: CommentBody
    mentions: MentionIds = []


class CommentRead(Output):
    id: uuid.UUID
    card_id: uuid.UUID
    author_id: uuid.UUID | None
    body: str
    created_at: dt.datetime
    edited_at: dt.datetime | None
    deleted_at: dt.datetime | None
    mentions: list[uuid.UUID] = []


class CommentPage(Output):
    items: list[CommentRead]
    next_cursor: str | None


class CardLinkRead(Output):
    id: uuid.UUID
    card_id: uuid.UUID
    url: str
    name: str
    position: str
    is_cover: bool


class CardDetail(CardRead):
    checklists: list[ChecklistRead] = []
    links: list[CardLinkRead] = []


class AttachmentRead(Output):
    id: uuid.UUID
    card_id: uuid.UUID
    filename: str
    content_type: str = Field(description="sniffed from the file's bytes, not taken from the client")
    size: int
    sha256: str
    width: int | None = None
    height: int | None = None
    has_thumbnail: bool = False
    uploader_id: uuid.UUID | None
    region: str = Field(description="the region the file was uploaded in")
    created_at: dt.datetime
    content_url: str = ""
    thumbnail_url: str | None = None


class AttachmentPage(Output):
    items: list[AttachmentRead]
    next_cursor: str | None


class UploadStart(Input):
    filename: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    size: int = Field(ge=1, description="the file's size in bytes")


class UploadTicket(Output):
    attachment_id: uuid.UUID
    url: str = Field(description="POST the form here: the fields first, then the file as `file`")
    fields: dict[str, str]
    ticket: str = Field(description="send back to .../uploads/complete once the storage accepted the file")
    expires_at: dt.datetime


class UploadComplete(Input):
    ticket: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
