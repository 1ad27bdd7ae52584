"""Boards and board members: commands, queries, and the access checks other services use."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import Select, Table, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.audit import service as audit
from orbitask.auth import policy, workspaces
from orbitask.auth import service as auth_service
from orbitask.auth.policy import Actor, BoardAccess
from orbitask.boards import events, limits
from orbitask.boards.models import Board, BoardMember
from orbitask.boards.schemas import (
    BoardCreate,
    BoardMemberAdd,
    BoardMemberRead,
    BoardMemberUpdate,
    BoardRead,
    BoardSummary,
    BoardUpdate,
)
from orbitask.core.db import utcnow
from orbitask.core.errors import NotFound
from orbitask.core.events import Event, EventRead
from orbitask.core.pagination import decode_cursor, page_of
from orbitask.core.prepared import Prepared
from orbitask.core.uow import UnitOfWork, command

ADMIN_FIELDS = {"visibility", "archived"}


async def role_on_board(session: AsyncSession, board: Board, user_id: uuid.UUID) -> str | None:
    """A user's effective role on a board (None: cannot see it)."""
    ws_role = await workspaces.workspace_role(session, board.workspace_id, user_id)
    if ws_role is None:
        return None
    explicit = await session.scalar(
        select(BoardMember.role).where(BoardMember.board_id == board.id, BoardMember.user_id == user_id)
    )
    return policy.effective_board_role(BoardAccess(ws_role, explicit, board.visibility))


# The access queries run on every board, list and card request: built once, with the caller and the
# board as bound parameters (building them per request cost more than running them).
_MEMBERSHIP = workspaces.membership_of(bindparam("user_id"))


def with_access(stmt: Any, which: Any = None) -> Any:
    """`stmt` joined to the caller's workspace membership and explicit board role, for one board.

    `which` picks the board (default: the `board_id` parameter); the caller is the `user_id` parameter.
    """
    return (
        stmt.outerjoin(_MEMBERSHIP, _MEMBERSHIP.c.workspace_id == Board.workspace_id)
        .outerjoin(BoardMember, (BoardMember.board_id == Board.id) & (BoardMember.user_id == bindparam("user_id")))
        .where(Board.id == bindparam("board_id") if which is None else which)
    )


def lock_columns(*extra: Any) -> Any:
    """A locking select of a board, the caller's workspace and explicit roles, and `extra` (with_access)."""
    return (select(Board, _MEMBERSHIP.c.role, BoardMember.role, *extra)
            .execution_options(populate_existing=True))


_VIEW = with_access(select(Board, _MEMBERSHIP.c.role, _MEMBERSHIP.c.members_version, BoardMember.role))
# the board's columns as a plain row (snapshot builds: they only read the board)
_VIEW_ROW = Prepared(with_access(select(*Board.__table__.c, _MEMBERSHIP.c.role.label("workspace_role"),
                                        _MEMBERSHIP.c.members_version, BoardMember.role.label("explicit_role"))))
_LOCK = with_access(lock_columns()).with_for_update(of=Board)


@dataclass(slots=True)
class LockedBoard:
    """A board locked by a command, as plain values: what access checks and `UnitOfWork.emit` need.

    `emit` numbers events from `version` and writes the last one to `version_table` at commit.
    The hot card commands lock with this instead of loading the ORM object, whose loading cost
    more than the rest of the lock (docs/benchmarks-history.md, "Fourth pass").
    """

    id: uuid.UUID
    workspace_id: uuid.UUID
    visibility: str
    version: int
    version_table: ClassVar[Table] = Board.__table__


def lock_values(*extra: Any) -> Any:
    """`lock_columns` as plain columns: a `LockedBoard`, the caller's workspace and explicit roles, `extra`."""
    board = Board.__table__.c
    return select(board.id, board.workspace_id, board.visibility, board.version, _MEMBERSHIP.c.role,
                  BoardMember.role, *extra)


def checked_lock_values(row: Any, action: str, what: str) -> LockedBoard:
    """The board of a `lock_values` row once the caller may do `action` on it (404/403 otherwise)."""
    if row is None:
        raise NotFound(f"No such {what}.")
    board_id, workspace_id, visibility, version, ws_role, explicit = row[:6]
    role = policy.effective_board_role(BoardAccess(ws_role, explicit, visibility))
    policy.require_board(role, action, what)
    return LockedBoard(board_id, workspace_id, visibility, version)


def readable_board_ids(user_id: uuid.UUID, workspace_id: uuid.UUID | None = None) -> Select[tuple[uuid.UUID]]:
    """The ids of the boards a user may read (in one workspace, or in all of theirs), as a subquery.

    policy.effective_board_role in SQL: a workspace owner reads every board; an admin or member the
    workspace-visible ones; anyone in the workspace (guests too) the boards they are an explicit member of.
    """
    member = workspaces.membership_of(user_id)
    explicit = (BoardMember.board_id == Board.id) & (BoardMember.user_id == user_id)
    stmt = (
        select(Board.id)
        .join(member, member.c.workspace_id == Board.workspace_id)
        .outerjoin(BoardMember, explicit)
        .where(or_(member.c.role == "owner", BoardMember.user_id.is_not(None),
                   # two comparisons rather than IN: no list to expand at each execution of a prepared statement
                   or_(member.c.role == "admin", member.c.role == "member") & (Board.visibility == "workspace")))
        .correlate(None)  # a subquery of its own, even inside a query of the same tables
    )
    return stmt if workspace_id is None else stmt.where(Board.workspace_id == workspace_id)


@dataclass(frozen=True, slots=True)
class BoardView:
    """A board as one caller sees it: their role and the workspace's membership version."""

    board: Board  # or, from `board_view(plain=True)`, a read-only row with the same attributes
    role: str
    members_version: int


async def board_view(
    session: AsyncSession, actor: Actor, board_id: uuid.UUID, action: str = "board.read", what: str = "board", *,
    plain: bool = False,
) -> BoardView:
    """Load a board and the caller's access to it in one query (404 when out of reach).

    `plain`: the board as a row of its columns instead of an ORM object, for callers that only read it.
    """
    params = {"user_id": actor.user_id, "board_id": board_id}
    row = await _VIEW_ROW.first(session, params) if plain else (await session.execute(_VIEW, params)).first()
    if row is None:
        raise NotFound(f"No such {what}.")
    board, (ws_role, members_version, explicit) = (row, row[-3:]) if plain else (row[0], row[1:])
    role = policy.effective_board_role(BoardAccess(ws_role, explicit, board.visibility))
    policy.require_board(role, action, what)
    assert role is not None
    return BoardView(board, role, members_version or 0)


@dataclass(frozen=True, slots=True)
class BoardStamp:
    """Just enough to serve a cached snapshot: the versions in its key and the caller's role."""

    id: uuid.UUID
    version: int
    members_version: int
    role: str


_STAMP = Prepared(with_access(select(Board.id, Board.version, Board.visibility, _MEMBERSHIP.c.role,
                                       _MEMBERSHIP.c.members_version, BoardMember.role)))


async def board_stamp(session: AsyncSession, actor: Actor, board_id: uuid.UUID, what: str = "board") -> BoardStamp:
    """The hot path of board reads: one precompiled query, no ORM objects (404 naming `what` when out of reach)."""
    row = await _STAMP.first(session, {"user_id": actor.user_id, "board_id": board_id})
    if row is None:
        raise NotFound(f"No such {what}.")
    found_id, version, visibility, ws_role, members_version, explicit = row
    role = policy.effective_board_role(BoardAccess(ws_role, explicit, visibility))
    policy.require_board(role, "board.read", what)
    assert role is not None
    return BoardStamp(found_id, version, members_version or 0, role)


async def readable_board(
    session: AsyncSession, actor: Actor, board_id: uuid.UUID, action: str = "board.read", what: str = "board"
) -> tuple[Board, str]:
    """A board the caller may act on, with their role (404 when out of reach)."""
    view = await board_view(session, actor, board_id, action, what)
    return view.board, view.role


async def lock_board(uow: UnitOfWork, actor: Actor, board_id: uuid.UUID, action: str, what: str = "board") -> Board:
    """Lock the board row for this command (serialising its writers) after checking `action`."""
    row = (await uow.session.execute(_LOCK, {"user_id": actor.user_id, "board_id": board_id})).first()
    return checked_lock(row, action, what)


def checked_lock(row: Any, action: str, what: str) -> Board:
    """The board of a `lock_columns` row once the caller may do `action` on it (404/403 otherwise)."""
    if row is None:
        raise NotFound(f"No such {what}.")
    board, ws_role, explicit = row[:3]
    role = policy.effective_board_role(BoardAccess(ws_role, explicit, board.visibility))
    policy.require_board(role, action, what)
    return board


@command
async def create_board(uow: UnitOfWork, actor: Actor, workspace_id: uuid.UUID, cmd: BoardCreate) -> BoardRead:
    """A new board; its creator becomes its admin."""
    async with uow:
        await workspaces.require_role(uow.session, actor, workspace_id, "board.create")
        now = utcnow()
        board = Board(workspace_id=workspace_id, version=0, created_by=actor.user_id, created_at=now,
                      updated_at=now, archived=False, **cmd.model_dump())
        uow.session.add(board)
        await uow.session.flush()
        uow.session.add(BoardMember(board_id=board.id, user_id=actor.user_id, role="admin", created_at=now))
        uow.emit(events.BoardCreated(board=BoardRead.model_validate(board)), board=board)
        out = BoardRead.model_validate(board)  # after `emit`: the board's new version
        await uow.commit(response=out)
    return out


async def list_boards(
    session: AsyncSession, actor: Actor, workspace_id: uuid.UUID, *, archived: bool | None, cursor: str | None,
    limit: int,
) -> tuple[list[BoardSummary], str | None]:
    """Boards of a workspace the caller can see."""
    ws_role = await workspaces.require_role(session, actor, workspace_id, "workspace.read")
    stmt = (
        select(Board, BoardMember.role)
        .outerjoin(BoardMember, (BoardMember.board_id == Board.id) & (BoardMember.user_id == actor.user_id))
        .where(Board.workspace_id == workspace_id, Board.id.in_(readable_board_ids(actor.user_id, workspace_id)))
        .order_by(Board.id)
        .limit(limit + 1)
    )
    if archived is not None:
        stmt = stmt.where(Board.archived.is_(archived))
    after = decode_cursor(cursor)
    if after is not None:
        stmt = stmt.where(Board.id > after)
    found = (await session.execute(stmt)).all()
    items = []
    for board, explicit in found[:limit]:
        summary = BoardSummary.model_validate(board)
        summary.role = policy.effective_board_role(BoardAccess(ws_role, explicit, board.visibility))
        items.append(summary)
    _, next_cursor = page_of([b for b, _ in found], limit)
    return items, next_cursor


@command
async def update_board(uow: UnitOfWork, actor: Actor, board_id: uuid.UUID, cmd: BoardUpdate) -> BoardRead:
    """Rename, recolour, describe (editors); change visibility or archive (admins)."""
    changes = cmd.model_dump(exclude_unset=True, exclude_none=True)
    action = "board.admin" if ADMIN_FIELDS & changes.keys() else "board.write"
    async with uow:
        board = await lock_board(uow, actor, board_id, action)
        if "visibility" in changes and changes["visibility"] != board.visibility:
            audit.record(uow.session, "board.visibility_changed", actor_id=actor.user_id,
                         workspace_id=board.workspace_id, target_type="board", target_id=board.id,
                         old=board.visibility, new=changes["visibility"])
        for field, value in changes.items():
            setattr(board, field, value)
        board.updated_at = utcnow()
        after = BoardRead.model_validate(board).model_copy(update={"version": board.version + 1})
        uow.emit(events.BoardUpdated(board=after, changes=sorted(changes)), board=board)
        await uow.commit()
    return BoardRead.model_validate(board)


@command
async def delete_board(uow: UnitOfWork, actor: Actor, board_id: uuid.UUID) -> None:
    """Delete a board and everything on it (board admins)."""
    async with uow:
        board = await lock_board(uow, actor, board_id, "board.admin")
        uow.emit(events.BoardDeleted(board_id=board.id), board=board)
        audit.record(uow.session, "board.deleted", actor_id=actor.user_id, workspace_id=board.workspace_id,
                     target_type="board", target_id=board.id, name=board.name)
        await uow.session.delete(board)
        await uow.commit()


async def list_members(session: AsyncSession, actor: Actor, board_id: uuid.UUID) -> list[BoardMemberRead]:
    """Everyone who can see the board, with their effective role."""
    board, _ = await readable_board(session, actor, board_id)
    return await board_members(session, board)


_EXPLICIT_MEMBERS = select(BoardMember.user_id, BoardMember.role).where(BoardMember.board_id == bindparam("board_id"))


async def board_members(session: AsyncSession, board: Board) -> list[BoardMemberRead]:
    """Explicit members plus workspace members whose role grants access."""
    ws_roles = await workspaces.member_roles(session, board.workspace_id)
    explicit = dict((await session.execute(_EXPLICIT_MEMBERS, {"board_id": board.id})).all())
    roles: dict[uuid.UUID, tuple[str, bool]] = {}
    for user_id, ws_role in ws_roles.items():
        role = policy.effective_board_role(BoardAccess(ws_role, explicit.get(user_id), board.visibility))
        if role is not None:
            roles[user_id] = (role, user_id in explicit)
    users = await auth_service.users_brief(session, list(roles))
    members = [BoardMemberRead(user=users[uid], role=r, explicit=e) for uid, (r, e) in roles.items() if uid in users]
    return sorted(members, key=lambda m: (m.user.name.lower(), str(m.user.id)))


# Nobody joins a workspace without accepting an invitation (adding a user id used to make them a guest), and
# an unknown id answers the same as someone outside the workspace: the answer must not tell who has an account.
NOT_IN_WORKSPACE = "Not a member of this workspace: invite them with an invitation link, then add them to the board."
_COUNT_MEMBERS = limits.counter(BoardMember.board_id)


@command
async def add_member(uow: UnitOfWork, actor: Actor, board_id: uuid.UUID, cmd: BoardMemberAdd) -> BoardMemberRead:
    """Give someone already in the board's workspace a role on it (404 NOT_IN_WORKSPACE for anyone else;
    409 past limits.MAX_MEMBERS_PER_BOARD)."""
    async with uow:
        board = await lock_board(uow, actor, board_id, "board.admin")
        if await workspaces.workspace_role(uow.session, board.workspace_id, cmd.user_id) is None:
            raise NotFound(NOT_IN_WORKSPACE)
        member = await uow.session.get(BoardMember, (board.id, cmd.user_id))
        if member is None:
            await limits.require_room(uow.session, _COUNT_MEMBERS, board.id, cap=limits.MAX_MEMBERS_PER_BOARD,
                                      what="explicit members")
            uow.session.add(BoardMember(board_id=board.id, user_id=cmd.user_id, role=cmd.role, created_at=utcnow()))
            uow.emit(events.BoardMemberAdded(board_id=board.id, user_id=cmd.user_id, role=cmd.role), board=board)
            _audit_member(uow, actor, board, "board.member_added", cmd.user_id, role=cmd.role)
        elif member.role != cmd.role:
            _audit_member(uow, actor, board, "board.member_role_changed", cmd.user_id, old=member.role, new=cmd.role)
            member.role = cmd.role
            uow.emit(events.BoardMemberUpdated(board_id=board.id, user_id=cmd.user_id, role=cmd.role), board=board)
        await uow.session.flush()
        result = await _member_read(uow.session, board, cmd.user_id)
        await uow.commit(response=result)
    return result


@command
async def update_member(
    uow: UnitOfWork, actor: Actor, board_id: uuid.UUID, user_id: uuid.UUID, cmd: BoardMemberUpdate
) -> BoardMemberRead:
    """Change an explicit member's role."""
    async with uow:
        board = await lock_board(uow, actor, board_id, "board.admin")
        member = await uow.session.get(BoardMember, (board.id, user_id))
        if member is None:
            raise NotFound("That user is not an explicit member of this board.")
        _audit_member(uow, actor, board, "board.member_role_changed", user_id, old=member.role, new=cmd.role)
        member.role = cmd.role
        uow.emit(events.BoardMemberUpdated(board_id=board.id, user_id=user_id, role=cmd.role), board=board)
        await uow.session.flush()
        result = await _member_read(uow.session, board, user_id)
        await uow.commit()
    return result


@command
async def remove_member(uow: UnitOfWork, actor: Actor, board_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Remove an explicit member (board admins), or leave the board."""
    async with uow:
        action = "board.read" if user_id == actor.user_id else "board.admin"
        board = await lock_board(uow, actor, board_id, action)
        member = await uow.session.get(BoardMember, (board.id, user_id))
        if member is None:
            raise NotFound("That user is not an explicit member of this board.")
        await uow.session.delete(member)
        uow.emit(events.BoardMemberRemoved(board_id=board.id, user_id=user_id), board=board)
        _audit_member(uow, actor, board, "board.member_removed", user_id, role=member.role,
                      left=user_id == actor.user_id)
        await uow.commit()


def _audit_member(uow: UnitOfWork, actor: Actor, board: Board, action: str, user_id: uuid.UUID, **detail: object) -> None:
    audit.record(uow.session, action, actor_id=actor.user_id, workspace_id=board.workspace_id, target_type="user",
                 target_id=user_id, board_id=board.id, **detail)


async def _member_read(session: AsyncSession, board: Board, user_id: uuid.UUID) -> BoardMemberRead:
    role = await role_on_board(session, board, user_id)
    users = await auth_service.users_brief(session, [user_id])
    return BoardMemberRead(user=users[user_id], role=role or "viewer", explicit=True)


async def list_events(
    session: AsyncSession, actor: Actor, board_id: uuid.UUID, *, after_version: int, limit: int
) -> tuple[list[EventRead], int]:
    """The board's events after `after_version`, in order, and the board's current version."""
    board, _ = await readable_board(session, actor, board_id)
    rows = await session.execute(
        select(Event)
        .where(Event.board_id == board_id, Event.board_version > after_version)
        .order_by(Event.board_version)
        .limit(limit)
    )
    return [EventRead.model_validate(e) for e in rows.scalars()], board.version


async def boards_by_id(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, Board]:
    """Boards by id (for services that check each recipient's access with `role_on_board`)."""
    if not ids:
        return {}
    rows = await session.execute(select(Board).where(Board.id.in_(set(ids))))
    return {b.id: b for b in rows.scalars()}
