"""Webhook subscriptions (workspace admins) and the `webhooks` consumer that queues deliveries."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.auth import workspaces
from orbitask.auth.policy import Actor
from orbitask.auth.security import random_token
from orbitask.boards import service as boards
from orbitask.config import Settings
from orbitask.core.db import utcnow
from orbitask.core.errors import Conflict, InvalidInput, NotFound
from orbitask.core.events import Event
from orbitask.core.pagination import decode_cursor, page_of
from orbitask.core.prepared import Prepared
from orbitask.core.uow import UnitOfWork, command
from orbitask.notifications.delivery import resolve_target
from orbitask.notifications.events import USER_EVENTS
from orbitask.notifications.models import Webhook, WebhookDelivery
from orbitask.notifications.schemas import DeliveryRead, WebhookCreate, WebhookRead, WebhookUpdate

MAX_PER_WORKSPACE = 50


def matches(patterns: list[str], event_type: str) -> bool:
    """Whether a subscription's patterns (`*`, `card.*`, `card.created`) cover an event type."""
    family = event_type.split(".", 1)[0]
    return any(p in ("*", event_type) or p == f"{family}.*" for p in patterns)


def _read(hook: Webhook, *, with_secret: bool = False) -> WebhookRead:
    out = WebhookRead.model_validate(hook)
    out.secret = hook.secret if with_secret else None  # the ORM row has it: shown at creation only
    return out


async def _managed(session: AsyncSession, actor: Actor, webhook_id: uuid.UUID, *, lock: bool = False) -> Webhook:
    stmt = select(Webhook).where(Webhook.id == webhook_id)
    hook = await session.scalar(stmt.with_for_update() if lock else stmt)
    if hook is None or await workspaces.workspace_role(session, hook.workspace_id, actor.user_id) is None:
        raise NotFound("No such webhook.")
    await workspaces.require_role(session, actor, hook.workspace_id, "webhook.manage")
    return hook


@command
async def create_webhook(
    uow: UnitOfWork, actor: Actor, workspace_id: uuid.UUID, cmd: WebhookCreate, settings: Settings
) -> WebhookRead:
    """Subscribe a public URL to the workspace's (or one board's) events; the secret is shown once."""
    await resolve_target(str(cmd.url), settings.webhook_allowed_networks)
    async with uow:
        await workspaces.require_role(uow.session, actor, workspace_id, "webhook.manage")
        if cmd.board_id is not None:
            board = (await boards.boards_by_id(uow.session, [cmd.board_id])).get(cmd.board_id)
            if board is None or board.workspace_id != workspace_id:
                raise InvalidInput("board_id: not a board of this workspace")
        count = len((await uow.session.execute(
            select(Webhook.id).where(Webhook.workspace_id == workspace_id).limit(MAX_PER_WORKSPACE)
        )).all())
        if count >= MAX_PER_WORKSPACE:
            raise Conflict(f"A workspace has at most {MAX_PER_WORKSPACE} webhooks; delete one first.")
        hook = Webhook(
            workspace_id=workspace_id, board_id=cmd.board_id, url=str(cmd.url), secret="whsec_" + random_token(),
            event_types=list(dict.fromkeys(cmd.event_types)), description=cmd.description, active=True,
            created_by=actor.user_id, created_at=utcnow(),
        )
        uow.session.add(hook)
        await uow.session.flush()
        out = _read(hook, with_secret=True)
        await uow.commit()
    return out


async def list_webhooks(
    session: AsyncSession, actor: Actor, workspace_id: uuid.UUID, *, cursor: str | None, limit: int
) -> tuple[list[WebhookRead], str | None]:
    """A workspace's webhooks, oldest first."""
    await workspaces.require_role(session, actor, workspace_id, "webhook.manage")
    stmt = select(Webhook).where(Webhook.workspace_id == workspace_id).order_by(Webhook.id).limit(limit + 1)
    after = decode_cursor(cursor)
    if after is not None:
        stmt = stmt.where(Webhook.id > after)
    rows, next_cursor = page_of(list((await session.execute(stmt)).scalars()), limit)
    return [_read(r) for r in rows], next_cursor


async def get_webhook(session: AsyncSession, actor: Actor, webhook_id: uuid.UUID) -> WebhookRead:
    """One webhook (without its secret)."""
    return _read(await _managed(session, actor, webhook_id))


@command
async def update_webhook(
    uow: UnitOfWork, actor: Actor, webhook_id: uuid.UUID, cmd: WebhookUpdate, settings: Settings
) -> WebhookRead:
    """Change URL, event types, description or pause it (active=false)."""
    if cmd.url is not None:
        await resolve_target(str(cmd.url), settings.webhook_allowed_networks)
    async with uow:
        hook = await _managed(uow.session, actor, webhook_id, lock=True)
        for field, value in cmd.model_dump(exclude_unset=True).items():
            if value is None:
                raise InvalidInput(f"{field}: must not be null")
            setattr(hook, field, str(value) if field == "url" else value)
        await uow.session.flush()
        out = _read(hook)
        await uow.commit()
    return out


@command
async def delete_webhook(uow: UnitOfWork, actor: Actor, webhook_id: uuid.UUID) -> None:
    """Delete a webhook and its delivery log."""
    async with uow:
        hook = await _managed(uow.session, actor, webhook_id, lock=True)
        await uow.session.delete(hook)
        await uow.commit()


async def list_deliveries(
    session: AsyncSession, actor: Actor, webhook_id: uuid.UUID, *, status: str | None, cursor: str | None, limit: int
) -> tuple[list[WebhookDelivery], str | None]:
    """A webhook's delivery log, newest first."""
    await _managed(session, actor, webhook_id)
    stmt = (select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
            .order_by(WebhookDelivery.id.desc()).limit(limit + 1))
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    before = decode_cursor(cursor)
    if before is not None:
        stmt = stmt.where(WebhookDelivery.id < before)
    return page_of(list((await session.execute(stmt)).scalars()), limit)


@command
async def redeliver(uow: UnitOfWork, actor: Actor, webhook_id: uuid.UUID, delivery_id: uuid.UUID) -> DeliveryRead:
    """Queue a dead (or delivered) delivery again, with a fresh set of attempts."""
    async with uow:
        await _managed(uow.session, actor, webhook_id)
        row = await uow.session.get(WebhookDelivery, delivery_id, with_for_update=True)
        if row is None or row.webhook_id != webhook_id:
            raise NotFound("No such delivery.")
        if row.status == "pending":
            raise Conflict("This delivery is still being attempted.")
        row.status, row.attempts, row.next_attempt_at, row.last_error = "pending", 0, utcnow(), None
        out = DeliveryRead.model_validate(row)
        await uow.commit(response=out)
    return out


def _event_board(event: Event) -> uuid.UUID | None:
    if event.board_id is not None:
        return event.board_id
    raw: Any = (event.payload or {}).get("board_id")
    return uuid.UUID(raw) if isinstance(raw, str) else None


_HOOKED = Prepared(select(Webhook.workspace_id).distinct().where(
    Webhook.workspace_id.in_(bindparam("ids", expanding=True)), Webhook.active.is_(True)))


async def hooked_workspaces(session: AsyncSession, workspace_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Of these workspaces, those with an active webhook: the `webhooks` consumer reads only their events."""
    return {row[0] for row in await _HOOKED.all(session, {"ids": list(workspace_ids)})}


async def fan_out(session: AsyncSession, batch: list[Event]) -> None:
    """The `webhooks` consumer: one pending delivery per (matching active webhook, event)."""
    relevant = [e for e in batch if e.workspace_id is not None and e.type not in USER_EVENTS]
    if not relevant:
        return
    hooks = list((await session.execute(
        select(Webhook).where(Webhook.workspace_id.in_({e.workspace_id for e in relevant}), Webhook.active.is_(True))
    )).scalars())
    if not hooks:
        return
    now = utcnow()
    for event in relevant:
        board_id = _event_board(event)
        for hook in hooks:
            if hook.workspace_id != event.workspace_id or not matches(hook.event_types, event.type):
                continue
            if event.created_at < hook.created_at:
                continue  # a webhook hears about what happens after it was created
            if hook.board_id is not None and hook.board_id != board_id:
                continue
            session.add(WebhookDelivery(
                webhook_id=hook.id, event_id=event.id, event_type=event.type, status="pending", attempts=0,
                next_attempt_at=now, created_at=now,
            ))
