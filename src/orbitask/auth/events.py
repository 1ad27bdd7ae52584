"""Events the Auth service emits."""

from __future__ import annotations

import uuid

from orbitask.core.events import DomainEvent, event_type


@event_type("user.registered")
class UserRegistered(DomainEvent):
    user_id: uuid.UUID
    name: str


@event_type("workspace.created")
class WorkspaceCreated(DomainEvent):
    workspace_id: uuid.UUID
    name: str


@event_type("workspace.updated")
class WorkspaceUpdated(DomainEvent):
    workspace_id: uuid.UUID
    changes: dict[str, object]


@event_type("workspace.deleted")
class WorkspaceDeleted(DomainEvent):
    workspace_id: uuid.UUID


@event_type("workspace.member_added")
class WorkspaceMemberAdded(DomainEvent):
    workspace_id: uuid.UUID
    user_id: uuid.UUID
    role: str


@event_type("workspace.member_updated")
class WorkspaceMemberUpdated(DomainEvent):
    workspace_id: uuid.UUID
    user_id: uuid.UUID
    role: str


@event_type("workspace.member_removed")
class WorkspaceMemberRemoved(DomainEvent):
    workspace_id: uuid.UUID
    user_id: uuid.UUID
