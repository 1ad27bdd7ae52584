"""Workspaces (the tenant), their members and invitation links."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Subquery, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.audit import service as audit
from orbitask.auth import events, policy
from orbitask.auth.models import Invitation, User, Workspace, WorkspaceMember
from orbitask.auth.policy import Actor
from orbitask.auth.schemas import (
    InvitationAccepted,
    InvitationCreate,
    InvitationPreview,
    MemberRead,
    MemberUpdate,
    UserBrief,
    WorkspaceCreate,
    WorkspaceRead,
    WorkspaceUpdate,
)
from orbitask.auth.security import digest, random_token
from orbitask.core.db import utcnow
from orbitask.core.errors import Conflict, Forbidden, NotFound
from orbitask.core.pagination import decode_cursor, page_of
from orbitask.core.uow import UnitOfWork, command

_ROLE = select(WorkspaceMember.role).where(WorkspaceMember.workspace_id == bindparam("workspace_id"),
                                           WorkspaceMember.user_id == bindparam("user_id"))


async def workspace_role(session: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID) -> str | None:
    """The user's role in the workspace, or None for outsiders."""
    return await session.scalar(_ROLE, {"workspace_id": workspace_id, "user_id": user_id})


_MEMBER_ROLES = select(WorkspaceMember.user_id, WorkspaceMember.role).where(
    WorkspaceMember.workspace_id == bindparam("workspace_id")
)


async def member_roles(session: AsyncSession, workspace_id: uuid.UUID) -> dict[uuid.UUID, str]:
    """Everyone in the workspace and their role."""
    rows = await session.execute(_MEMBER_ROLES, {"workspace_id": workspace_id})
    return {user_id: role for user_id, role in rows.all()}


def membership_of(user_id: uuid.UUID) -> Subquery:
    """A subquery of the user's workspaces: workspace_id, role, members_version (for joins)."""
    return (
        select(WorkspaceMember.workspace_id, WorkspaceMember.role, Workspace.members_version)
        .join(Workspace, Workspace.id == WorkspaceMember.workspace_id)
        .where(WorkspaceMember.user_id == user_id)
        .subquery("membership")
    )


async def _members_changed(session: AsyncSession, workspace_id: uuid.UUID) -> None:
    """Invalidate everything keyed by the workspace's membership (board snapshots)."""
    await session.execute(
        update(Workspace).where(Workspace.id == workspace_id).values(members_version=Workspace.members_version + 1)
    )


async def require_role(session: AsyncSession, actor: Actor, workspace_id: uuid.UUID, action: str) -> str:
    """The caller's role, after checking it allows `action` (404 for outsiders)."""
    role = await workspace_role(session, workspace_id, actor.user_id)
    policy.require_workspace(role, action)
    assert role is not None
    return role


async def add_workspace_with_owner(uow: UnitOfWork, owner_id: uuid.UUID, name: str, description: str = "") -> Workspace:
    """Create a workspace whose owner is `owner_id` (inside the caller's transaction)."""
    now = utcnow()
    ws = Workspace(name=name, description=description, created_by=owner_id, created_at=now, updated_at=now)
    uow.session.add(ws)
    await uow.session.flush()
    uow.session.add(WorkspaceMember(workspace_id=ws.id, user_id=owner_id, role="owner", created_at=now))
    uow.emit(events.WorkspaceCreated(workspace_id=ws.id, name=ws.name), workspace_id=ws.id)
    return ws


async def ensure_member(uow: UnitOfWork, workspace_id: uuid.UUID, user_id: uuid.UUID, role: str = "guest") -> str:
    """Make sure the user belongs to the workspace (as `role` if new); returns their role."""
    current = await workspace_role(uow.session, workspace_id, user_id)
    if current is not None:
        return current
    if await uow.session.get(User, user_id) is None:
        raise NotFound("No such user.")
    uow.session.add(WorkspaceMember(workspace_id=workspace_id, user_id=user_id, role=role, created_at=utcnow()))
    await _members_changed(uow.session, workspace_id)
    uow.emit(events.WorkspaceMemberAdded(workspace_id=workspace_id, user_id=user_id, role=role), workspace_id=workspace_id)
    return role


def _read(ws: Workspace, role: str | None) -> WorkspaceRead:
    out = WorkspaceRead.model_validate(ws)
    out.role = role
    return out


@command
async def create_workspace(uow: UnitOfWork, actor: Actor, cmd: WorkspaceCreate) -> WorkspaceRead:
    """A new workspace owned by the caller."""
    async with uow:
        ws = await add_workspace_with_owner(uow, actor.user_id, cmd.name, cmd.description)
        out = _read(ws, "owner")
        await uow.commit(response=out)
    return out


async def list_workspaces(
    session: AsyncSession, actor: Actor, *, cursor: str | None, limit: int
) -> tuple[list[WorkspaceRead], str | None]:
    """Workspaces the caller belongs to, oldest first."""
    stmt = (
        select(Workspace, WorkspaceMember.role)
        .join(WorkspaceMember, WorkspaceMember.workspace_id == Workspace.id)
        .where(WorkspaceMember.user_id == actor.user_id)
        .order_by(Workspace.id)
        .limit(limit + 1)
    )
    after = decode_cursor(cursor)
    if after is not None:
        stmt = stmt.where(Workspace.id > after)
    rows = [_read(ws, role) for ws, role in (await session.execute(stmt)).all()]
    return page_of(rows, limit)


async def get_workspace(session: AsyncSession, actor: Actor, workspace_id: uuid.UUID) -> WorkspaceRead:
    """One workspace the caller belongs to."""
    role = await require_role(session, actor, workspace_id, "workspace.read")
    ws = await session.get(Workspace, workspace_id)
    if ws is None:
        raise NotFound("No such workspace.")
    return _read(ws, role)


@command
async def update_workspace(uow: UnitOfWork, actor: Actor, workspace_id: uuid.UUID, cmd: WorkspaceUpdate) -> WorkspaceRead:
    """Rename or describe a workspace (admins and owners)."""
    async with uow:
        role = await require_role(uow.session, actor, workspace_id, "workspace.update")
        ws = await uow.session.get(Workspace, workspace_id, with_for_update=True)
        if ws is None:
            raise NotFound("No such workspace.")
        changes = cmd.model_dump(exclude_unset=True, exclude_none=True)
        for field, value in changes.items():
            setattr(ws, field, value)
        ws.updated_at = utcnow()
        uow.emit(events.WorkspaceUpdated(workspace_id=ws.id, changes=changes), workspace_id=ws.id)
        await uow.commit()
    return _read(ws, role)


@command
async def delete_workspace(uow: UnitOfWork, actor: Actor, workspace_id: uuid.UUID) -> None:
    """Delete a workspace with everything in it (owners only)."""
    async with uow:
        await require_role(uow.session, actor, workspace_id, "workspace.delete")
        ws = await uow.session.get(Workspace, workspace_id, with_for_update=True)
        if ws is None:
            raise NotFound("No such workspace.")
        await uow.session.delete(ws)
        uow.emit(events.WorkspaceDeleted(workspace_id=workspace_id), workspace_id=workspace_id)
        audit.record(uow.session, "workspace.deleted", actor_id=actor.user_id, workspace_id=workspace_id,
                     target_type="workspace", target_id=workspace_id, name=ws.name)
        await uow.commit()


async def list_members(session: AsyncSession, actor: Actor, workspace_id: uuid.UUID) -> list[MemberRead]:
    """Everyone in the workspace with their role."""
    await require_role(session, actor, workspace_id, "workspace.read")
    rows = await session.execute(
        select(WorkspaceMember, User)
        .join(User, User.id == WorkspaceMember.user_id)
        .where(WorkspaceMember.workspace_id == workspace_id)
        .order_by(WorkspaceMember.created_at, User.id)
    )
    return [MemberRead(user=UserBrief.model_validate(u), role=m.role, created_at=m.created_at) for m, u in rows.all()]


async def _owner_count(session: AsyncSession, workspace_id: uuid.UUID) -> int:
    return await session.scalar(
        select(func.count()).where(WorkspaceMember.workspace_id == workspace_id, WorkspaceMember.role == "owner")
    ) or 0


async def _target(uow: UnitOfWork, actor: Actor, workspace_id: uuid.UUID, user_id: uuid.UUID) -> tuple[str, WorkspaceMember]:
    actor_role = await workspace_role(uow.session, workspace_id, actor.user_id)
    policy.require_workspace(actor_role, "workspace.read")
    assert actor_role is not None
    member = await uow.session.get(WorkspaceMember, (workspace_id, user_id), with_for_update=True)
    if member is None:
        raise NotFound("That user is not a member of this workspace.")
    return actor_role, member


@command
async def update_member(
    uow: UnitOfWork, actor: Actor, workspace_id: uuid.UUID, user_id: uuid.UUID, cmd: MemberUpdate
) -> MemberRead:
    """Change a member's role; only owners grant or take away ownership; a workspace keeps an owner."""
    async with uow:
        actor_role, member = await _target(uow, actor, workspace_id, user_id)
        policy.require_workspace(actor_role, "member.manage")
        if "owner" in (cmd.role, member.role) and actor_role != "owner":
            raise Forbidden("Only an owner can grant or remove ownership.")
        if member.role == "owner" and cmd.role != "owner" and await _owner_count(uow.session, workspace_id) <= 1:
            raise Conflict("A workspace needs at least one owner; make someone else owner first.")
        audit.record(uow.session, "member.role_changed", actor_id=actor.user_id, workspace_id=workspace_id,
                     target_type="user", target_id=user_id, old=member.role, new=cmd.role)
        member.role = cmd.role
        await _members_changed(uow.session, workspace_id)
        uow.emit(events.WorkspaceMemberUpdated(workspace_id=workspace_id, user_id=user_id, role=cmd.role),
                 workspace_id=workspace_id)
        user = await uow.session.get(User, user_id)
        await uow.commit()
    return MemberRead(user=UserBrief.model_validate(user), role=member.role, created_at=member.created_at)


@command
async def remove_member(uow: UnitOfWork, actor: Actor, workspace_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Remove a member (admins), or leave (anyone); the last owner cannot go."""
    async with uow:
        actor_role, member = await _target(uow, actor, workspace_id, user_id)
        if user_id != actor.user_id:
            policy.require_workspace(actor_role, "member.manage")
            if member.role == "owner" and actor_role != "owner":
                raise Forbidden("Only an owner can remove an owner.")
        if member.role == "owner" and await _owner_count(uow.session, workspace_id) <= 1:
            raise Conflict("A workspace needs at least one owner; make someone else owner first.")
        await uow.session.delete(member)
        audit.record(uow.session, "member.removed", actor_id=actor.user_id, workspace_id=workspace_id,
                     target_type="user", target_id=user_id, role=member.role, left=user_id == actor.user_id)
        await _members_changed(uow.session, workspace_id)
        uow.emit(events.WorkspaceMemberRemoved(workspace_id=workspace_id, user_id=user_id), workspace_id=workspace_id)
        await uow.commit()


@command
async def create_invitation(
    uow: UnitOfWork, actor: Actor, workspace_id: uuid.UUID, cmd: InvitationCreate, *, ttl_seconds: int,
    email_link: str | None = None,
) -> tuple[Invitation, str]:
    """An invitation link; the token is returned once, and e-mailed to `cmd.email` when `email_link` is given.

    `email_link` is the public URL the token is appended to (None: this server sends no e-mail).
    """
    raw = random_token()
    now = utcnow()
    ttl = dt.timedelta(days=cmd.expires_in_days) if cmd.expires_in_days else dt.timedelta(seconds=ttl_seconds)
    async with uow:
        role = await require_role(uow.session, actor, workspace_id, "invitation.create")
        if cmd.role == "admin" and role != "owner":
            raise Forbidden("Only an owner can invite admins.")
        inv = Invitation(
            workspace_id=workspace_id, token_hash=digest(raw), role=cmd.role,
            email=cmd.email.lower() if cmd.email else None, max_uses=cmd.max_uses, uses=0,
            created_by=actor.user_id, created_at=now, expires_at=now + ttl,
        )
        uow.session.add(inv)
        await uow.session.flush()
        audit.record(uow.session, "invitation.created", actor_id=actor.user_id, workspace_id=workspace_id,
                     target_type="invitation", target_id=inv.id, role=cmd.role, email=inv.email,
                     max_uses=cmd.max_uses, expires_at=inv.expires_at.isoformat())
        if inv.email and email_link:
            from orbitask.notifications import email  # a service call; imported here to avoid an import cycle

            inviter, ws = await uow.session.get(User, actor.user_id), await uow.session.get(Workspace, workspace_id)
            email.queue_invitation(
                uow.session, to=inv.email, inviter=inviter.name if inviter else "Someone",
                workspace=ws.name if ws else "a workspace", role=inv.role, url=email_link + raw,
                expires_at=inv.expires_at, invitation_id=inv.id,
            )
        await uow.commit()
    return inv, raw


async def _invitation(session: AsyncSession, raw: str, *, lock: bool = False) -> Invitation:
    """The invitation a link's token names (404 for an unknown or revoked one)."""
    stmt = select(Invitation).where(Invitation.token_hash == digest(raw))
    inv = await session.scalar(stmt.with_for_update() if lock else stmt)
    if inv is None or inv.revoked_at is not None:
        raise NotFound("This invitation link is not valid.")
    return inv


def _require_usable(inv: Invitation) -> None:
    if inv.expires_at <= utcnow():
        raise NotFound("This invitation link has expired; ask for a new one.")
    if inv.max_uses is not None and inv.uses >= inv.max_uses:
        raise NotFound("This invitation link has been used up; ask for a new one.")


async def preview_invitation(session: AsyncSession, raw: str) -> InvitationPreview:
    """The workspace's and the inviter's names for a usable invitation link (no account needed)."""
    inv = await _invitation(session, raw)
    _require_usable(inv)
    ws = await session.get(Workspace, inv.workspace_id)
    inviter = await session.get(User, inv.created_by) if inv.created_by else None
    if ws is None:
        raise NotFound("This invitation link is not valid.")
    return InvitationPreview(workspace_name=ws.name, inviter_name=inviter.name if inviter else "Someone")


async def join_by_invitation(uow: UnitOfWork, user: User, raw: str) -> tuple[Workspace, str]:
    """Make `user` a member through the invitation, in the caller's transaction; already a member: keep the
    higher role (and a member who opens a used-up or expired link again still gets their workspace)."""
    inv = await _invitation(uow.session, raw, lock=True)
    current = await workspace_role(uow.session, inv.workspace_id, user.id)
    if current is None or policy.WORKSPACE_RANK[inv.role] > policy.WORKSPACE_RANK[current]:
        _require_usable(inv)
        if inv.email and user.email != inv.email:
            raise NotFound("This invitation is for another e-mail address.")
    if current is None:
        await ensure_member(uow, inv.workspace_id, user.id, inv.role)
        inv.uses += 1
        role = inv.role
        audit.record(uow.session, "member.joined", actor_id=user.id, workspace_id=inv.workspace_id,
                     target_type="user", target_id=user.id, role=role, invitation_id=inv.id)
    elif policy.WORKSPACE_RANK[inv.role] > policy.WORKSPACE_RANK[current]:
        member = await uow.session.get(WorkspaceMember, (inv.workspace_id, user.id))
        assert member is not None
        audit.record(uow.session, "member.role_changed", actor_id=user.id, workspace_id=inv.workspace_id,
                     target_type="user", target_id=user.id, old=member.role, new=inv.role, invitation_id=inv.id)
        member.role = role = inv.role
        inv.uses += 1
        await _members_changed(uow.session, inv.workspace_id)
        uow.emit(events.WorkspaceMemberUpdated(workspace_id=inv.workspace_id, user_id=user.id, role=role),
                 workspace_id=inv.workspace_id)
    else:
        role = current
    ws = await uow.session.get(Workspace, inv.workspace_id)
    assert ws is not None
    return ws, role


@command
async def accept_invitation(uow: UnitOfWork, actor: Actor, raw: str) -> InvitationAccepted:
    """Join the invitation's workspace (already a member: keep the higher role)."""
    async with uow:
        user = await uow.session.get(User, actor.user_id)
        if user is None:
            raise NotFound("No such user.")
        ws, role = await join_by_invitation(uow, user, raw)
        out = InvitationAccepted(workspace=_read(ws, role), role=role)
        await uow.commit(response=out)
    return out


async def find_workspaces(session: AsyncSession, ref: str) -> list[tuple[uuid.UUID, str]]:
    """Workspaces whose id or exact name is `ref` (for operators' command-line tools)."""
    try:
        stmt = select(Workspace.id, Workspace.name).where(Workspace.id == uuid.UUID(ref))
    except ValueError:
        stmt = select(Workspace.id, Workspace.name).where(Workspace.name == ref)
    return [(i, n) for i, n in (await session.execute(stmt.order_by(Workspace.id))).all()]


async def first_owner(session: AsyncSession, workspace_id: uuid.UUID) -> uuid.UUID | None:
    """The workspace's longest-standing owner (who command-line imports and exports act as by default)."""
    return await session.scalar(
        select(WorkspaceMember.user_id)
        .where(WorkspaceMember.workspace_id == workspace_id, WorkspaceMember.role == "owner")
        .order_by(WorkspaceMember.created_at, WorkspaceMember.user_id).limit(1)
    )
