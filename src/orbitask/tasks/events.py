"""Events the Task service emits."""

from __future__ import annotations

import uuid

from orbitask.core.events import DomainEvent, event_type
from orbitask.tasks.schemas import AttachmentRead, CardRead, ChecklistItemRead, ChecklistRead, CommentRead


@event_type("card.created")
class CardCreated(DomainEvent):
    card: CardRead


@event_type("card.updated")
class CardUpdated(DomainEvent):
    card: CardRead
    changes: list[str]


@event_type("card.moved")
class CardMoved(DomainEvent):
    card: CardRead
    from_list_id: uuid.UUID


@event_type("card.deleted")
class CardDeleted(DomainEvent):
    card_id: uuid.UUID
    list_id: uuid.UUID


@event_type("card.assignee_added")
class CardAssigneeAdded(DomainEvent):
    card_id: uuid.UUID
    user_id: uuid.UUID


@event_type("card.assignee_removed")
class CardAssigneeRemoved(DomainEvent):
    card_id: uuid.UUID
    user_id: uuid.UUID


@event_type("card.label_added")
class CardLabelAdded(DomainEvent):
    card_id: uuid.UUID
    label_id: uuid.UUID


@event_type("card.label_removed")
class CardLabelRemoved(DomainEvent):
    card_id: uuid.UUID
    label_id: uuid.UUID


@event_type("checklist.created")
class ChecklistCreated(DomainEvent):
    checklist: ChecklistRead


@event_type("checklist_item.created")
class ChecklistItemCreated(DomainEvent):
    item: ChecklistItemRead


@event_type("checklist_item.updated")
class ChecklistItemUpdated(DomainEvent):
    item: ChecklistItemRead
    changes: list[str]


@event_type("checklist_item.deleted")
class ChecklistItemDeleted(DomainEvent):
    item_id: uuid.UUID
    checklist_id: uuid.UUID
    card_id: uuid.UUID


@event_type("comment.created")
class CommentCreated(DomainEvent):
    comment: CommentRead


@event_type("comment.updated")
class CommentUpdated(DomainEvent):
    comment: CommentRead


@event_type("comment.deleted")
class CommentDeleted(DomainEvent):
    comment_id: uuid.UUID
    card_id: uuid.UUID


@event_type("attachment.created")
class AttachmentCreated(DomainEvent):
    attachment: AttachmentRead


@event_type("attachment.deleted")
class AttachmentDeleted(DomainEvent):
    attachment_id: uuid.UUID
    card_id: uuid.UUID
    filename: str
    cover_cleared: bool = False
