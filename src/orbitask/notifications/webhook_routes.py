"""Webhook HTTP routes: subscriptions per workspace (admins) and their delivery log."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, status

from orbitask.auth.deps import CurrentActor, ReadSession, RuntimeDep, Uow
from orbitask.core.context import withhold_from_replay
from orbitask.core.pagination import DEFAULT_LIMIT, Limit
from orbitask.notifications import webhooks
from orbitask.notifications.schemas import (
    DeliveryPage,
    DeliveryRead,
    WebhookCreate,
    WebhookPage,
    WebhookRead,
    WebhookUpdate,
)

router = APIRouter(tags=["webhooks"])


@router.post("/workspaces/{workspace_id}/webhooks", status_code=status.HTTP_201_CREATED, response_model=WebhookRead)
async def create_webhook(
    workspace_id: uuid.UUID, cmd: WebhookCreate, actor: CurrentActor, uow: Uow, rt: RuntimeDep
) -> WebhookRead:
    """Subscribe a URL to events; the response shows the signing secret, once."""
    withhold_from_replay()
    return await webhooks.create_webhook(uow, actor, workspace_id, cmd, rt.settings)


@router.get("/workspaces/{workspace_id}/webhooks", response_model=WebhookPage)
async def list_webhooks(
    workspace_id: uuid.UUID, actor: CurrentActor, session: ReadSession, cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> WebhookPage:
    """The workspace's webhooks."""
    items, next_cursor = await webhooks.list_webhooks(session, actor, workspace_id, cursor=cursor, limit=limit)
    return WebhookPage(items=items, next_cursor=next_cursor)


@router.get("/webhooks/{webhook_id}", response_model=WebhookRead)
async def get_webhook(webhook_id: uuid.UUID, actor: CurrentActor, session: ReadSession) -> WebhookRead:
    """One webhook."""
    return await webhooks.get_webhook(session, actor, webhook_id)


@router.patch("/webhooks/{webhook_id}", response_model=WebhookRead)
async def update_webhook(
    webhook_id: uuid.UUID, cmd: WebhookUpdate, actor: CurrentActor, uow: Uow, rt: RuntimeDep
) -> WebhookRead:
    """Change URL, event types, description, or pause it."""
    return await webhooks.update_webhook(uow, actor, webhook_id, cmd, rt.settings)


@router.delete("/webhooks/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_webhook(webhook_id: uuid.UUID, actor: CurrentActor, uow: Uow) -> None:
    """Delete a webhook and its delivery log."""
    await webhooks.delete_webhook(uow, actor, webhook_id)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=DeliveryPage)
async def list_deliveries(
    webhook_id: uuid.UUID, actor: CurrentActor, session: ReadSession,
    status: Literal["pending", "succeeded", "dead"] | None = None, cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> DeliveryPage:
    """The delivery log, newest first: attempts, last status code and error, dead letters."""
    rows, next_cursor = await webhooks.list_deliveries(
        session, actor, webhook_id, status=status, cursor=cursor, limit=limit
    )
    items = [DeliveryRead.model_validate(r) for r in rows]
    for item in items:
        if item.status != "pending":
            item.next_attempt_at = None
    return DeliveryPage(items=items, next_cursor=next_cursor)


@router.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", response_model=DeliveryRead)
async def redeliver(webhook_id: uuid.UUID, delivery_id: uuid.UUID, actor: CurrentActor, uow: Uow) -> DeliveryRead:
    """Send a dead (or delivered) event again."""
    return await webhooks.redeliver(uow, actor, webhook_id, delivery_id)
