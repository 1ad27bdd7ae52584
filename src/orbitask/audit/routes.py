"""Audit HTTP route."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from orbitask.audit import service
from orbitask.audit.schemas import AuditPage
from orbitask.auth.deps import CurrentActor, ReadSession
from orbitask.core.pagination import DEFAULT_LIMIT, Limit

router = APIRouter(tags=["audit"])


@router.get("/workspaces/{workspace_id}/audit", response_model=AuditPage)
async def list_audit(
    workspace_id: uuid.UUID, actor: CurrentActor, session: ReadSession,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = DEFAULT_LIMIT,
    action: Annotated[str | None, Query(max_length=64, description="an action, or a prefix ending in '.'")] = None,
    actor_id: uuid.UUID | None = None,
    since: Annotated[dt.datetime | None, Query(description="entries at or after this time")] = None,
    until: Annotated[dt.datetime | None, Query(description="entries before this time")] = None,
) -> AuditPage:
    """Security-relevant events of the workspace, newest first (workspace owners and admins)."""
    return await service.list_entries(session, actor, workspace_id, cursor=cursor, limit=limit, action=action,
                                      actor_id=actor_id, since=since, until=until)
