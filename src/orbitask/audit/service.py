"""Write audit entries (in the caller's transaction) and read them back (workspace owners and admins)."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.audit.models import AuditEntry
from orbitask.audit.schemas import AuditEntryRead, AuditPage
from orbitask.auth import workspaces
from orbitask.auth.policy import Actor
from orbitask.core import context
from orbitask.core.db import Database
from orbitask.core.pagination import decode_cursor, encode_cursor

# the actions recorded, for documentation and filters
ACTIONS = (
    "login.succeeded", "login.failed", "session.reuse_detected",
    "api_token.created", "api_token.revoked",
    "invitation.created", "member.joined", "member.role_changed", "member.removed",
    "board.member_added", "board.member_role_changed", "board.member_removed", "board.visibility_changed",
    "board.deleted", "workspace.deleted", "export.board", "export.workspace",
    "signup.requested", "signup.account_exists", "signup.verified",
    "password_reset.requested", "password_reset.completed", "password_reset.link_created", "password.changed",
    "email.change_requested", "email.changed", "email.verified", "email.verification_sent",
    "session.revoked", "session.revoked_others", "user.disabled", "user.enabled", "instance.admin_assigned",
)


def record(
    session: AsyncSession, action: str, *, actor_id: uuid.UUID | None = None, workspace_id: uuid.UUID | None = None,
    target_type: str | None = None, target_id: Any = None, region: str = "", **detail: Any,
) -> None:
    """Add an entry to `session`'s transaction: it commits (or rolls back) with the change it describes."""
    state = context.current()
    extra = state.extra if state is not None else {}
    session.add(AuditEntry(
        action=action, actor_id=actor_id, workspace_id=workspace_id, target_type=target_type,
        target_id=str(target_id) if target_id is not None else None, ip=extra.get("client_ip"),
        request_id=extra.get("request_id"), region=region or str(extra.get("region", "")),
        detail={k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in detail.items()},
    ))


async def record_alone(db: Database, action: str, **fields: Any) -> None:
    """An entry in a transaction of its own: for events with no change to ride on (failed sign-ins, exports)."""
    async with db.write_transaction() as session:
        record(session, action, **fields)


async def login_backoff(session: AsyncSession, user_id: uuid.UUID, now: dt.datetime, *, after: int,
                        base_s: float, cap_s: float) -> int:
    """Seconds this account must wait before its next sign-in attempt (0: none).

    After `after` failures in a row (since the last success), each further failure doubles the wait:
    base, 2 x base, 4 x base... up to `cap_s`. Counted from the audit log, so every process and
    region agrees; attempts refused during a wait are not counted (they cannot extend it).
    """
    if after <= 0:
        return 0
    recent = (await session.execute(
        select(AuditEntry.action, AuditEntry.at)
        .where(AuditEntry.actor_id == user_id, AuditEntry.action.in_(("login.failed", "login.succeeded")))
        .order_by(AuditEntry.id.desc()).limit(after + 16)
    )).all()
    streak = 0
    for action, _ in recent:
        if action != "login.failed":
            break
        streak += 1
    if streak < after:
        return 0
    wait = min(cap_s, base_s * 2 ** (streak - after))
    remaining = (recent[0].at + dt.timedelta(seconds=wait) - now).total_seconds()
    return max(0, math.ceil(remaining))


async def list_entries(
    session: AsyncSession, actor: Actor, workspace_id: uuid.UUID, *, cursor: str | None, limit: int,
    action: str | None = None, actor_id: uuid.UUID | None = None,
    since: dt.datetime | None = None, until: dt.datetime | None = None,
) -> AuditPage:
    """A workspace's entries, newest first."""
    await workspaces.require_role(session, actor, workspace_id, "audit.read")
    query = select(AuditEntry).where(AuditEntry.workspace_id == workspace_id)
    if (after := decode_cursor(cursor)) is not None:
        query = query.where(AuditEntry.id < after)
    if action:  # "member." matches every member action
        query = query.where(AuditEntry.action.startswith(action) if action.endswith(".")
                            else AuditEntry.action == action)
    if actor_id is not None:
        query = query.where(AuditEntry.actor_id == actor_id)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    rows = list(await session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(items=[AuditEntryRead.model_validate(r) for r in rows],
                     next_cursor=encode_cursor(rows[-1].id) if more and rows else None)
