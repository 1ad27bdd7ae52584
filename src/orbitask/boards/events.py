"""Events the Board service emits."""

from __future__ import annotations

import uuid

from orbitask.boards.schemas import BoardRead, LabelRead, ListRead
from orbitask.core.events import DomainEvent, event_type


@event_type("board.created")
class BoardCreated(DomainEvent):
    board: BoardRead


@event_type("board.updated")
class BoardUpdated(DomainEvent):
    board: BoardRead
    changes: list[str]


@event_type("board.deleted")
class BoardDeleted(DomainEvent):
    board_id: uuid.UUID


@event_type("board.member_added")
class BoardMemberAdded(DomainEvent):
    board_id: uuid.UUID
    user_id: uuid.UUID
    role: str


@event_type("board.member_updated")
class BoardMemberUpdated(DomainEvent):
    board_id: uuid.UUID
    user_id: uuid.UUID
    role: str


@event_type("board.member_removed")
class BoardMemberRemoved(DomainEvent):
    board_id: uuid.UUID
    user_id: uuid.UUID


@event_type("list.created")
class ListCreated(DomainEvent):
    list: ListRead


@event_type("list.updated")
class ListUpdated(DomainEvent):
    list: ListRead
    changes: list[str]


@event_type("list.moved")
class ListMoved(DomainEvent):
    list: ListRead


@event_type("list.deleted")
class ListDeleted(DomainEvent):
    list_id: uuid.UUID


@event_type("label.created")
class LabelCreated(DomainEvent):
    label: LabelRead


@event_type("label.updated")
class LabelUpdated(DomainEvent):
    label: LabelRead


@event_type("label.deleted")
class LabelDeleted(DomainEvent):
    label_id: uuid.UUID
