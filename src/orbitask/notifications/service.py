"""In-app notifications: list, unread count, mark read; preferences; board watching; unsubscribe."""

from __future__ import annotations

import uuid

import jwt
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.auth import service as auth_service
from orbitask.auth.policy import Actor
from orbitask.boards import service as boards
from orbitask.core.db import utcnow
from orbitask.core.errors import InvalidInput, NotFound
from orbitask.core.pagination import decode_cursor, page_of
from orbitask.core.prepared import Prepared
from orbitask.core.uow import UnitOfWork, command
from orbitask.notifications import events
from orbitask.notifications.models import BoardWatcher, Notification, NotificationPreference, NotificationSettings
from orbitask.notifications.schemas import (
    CHANNELS,
    DEFAULT_DUE_OFFSETS,
    DEFAULT_EMAIL,
    KINDS,
    ChannelChoice,
    MarkRead,
    NotificationRead,
    PreferencesRead,
    PreferencesUpdate,
    UnreadCount,
)

UNSUBSCRIBE_TYP = "unsubscribe"


async def unread_count(session: AsyncSession, user_id: uuid.UUID) -> int:
    """How many in-app notifications the user has not read."""
    return int(await session.scalar(
        select(func.count()).select_from(Notification)
        .where(Notification.user_id == user_id, Notification.in_app.is_(True), Notification.read_at.is_(None))
    ) or 0)


async def unread_counts(session: AsyncSession, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Unread counts of several users in one query (users with none are left out)."""
    if not user_ids:
        return {}
    rows = await session.execute(
        select(Notification.user_id, func.count()).where(
            Notification.user_id.in_(user_ids), Notification.in_app.is_(True), Notification.read_at.is_(None)
        ).group_by(Notification.user_id)
    )
    return {user_id: int(n) for user_id, n in rows.all()}


async def list_notifications(
    session: AsyncSession, actor: Actor, *, unread_only: bool, cursor: str | None, limit: int
) -> tuple[list[NotificationRead], str | None, int]:
    """The caller's notifications, newest first, the next cursor and the unread count."""
    stmt = (select(Notification).where(Notification.user_id == actor.user_id, Notification.in_app.is_(True))
            .order_by(Notification.id.desc()).limit(limit + 1))
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    before = decode_cursor(cursor)
    if before is not None:
        stmt = stmt.where(Notification.id < before)
    rows, next_cursor = page_of(list((await session.execute(stmt)).scalars()), limit)
    return [NotificationRead.model_validate(r) for r in rows], next_cursor, await unread_count(session, actor.user_id)


@command
async def mark_read(uow: UnitOfWork, actor: Actor, cmd: MarkRead) -> UnreadCount:
    """Mark some (or all) of the caller's notifications read or unread; returns the unread count."""
    if cmd.all == bool(cmd.ids):
        raise InvalidInput("give either `ids` or `all: true`")
    if cmd.all and not cmd.read:
        raise InvalidInput("`all` marks everything read; give `ids` to mark notifications unread")
    async with uow:
        stmt = update(Notification).where(Notification.user_id == actor.user_id)
        if cmd.all:
            stmt = stmt.where(Notification.read_at.is_(None))
        else:
            stmt = stmt.where(Notification.id.in_(cmd.ids))
        await uow.session.execute(stmt.values(read_at=utcnow() if cmd.read else None))
        count = await unread_count(uow.session, actor.user_id)
        uow.emit(events.NotificationsRead(user_id=actor.user_id, ids=cmd.ids, all=cmd.all, read=cmd.read,
                                          unread_count=count))
        out = UnreadCount(unread_count=count)
        await uow.commit(response=out)
    return out


async def preference_table(session: AsyncSession, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[tuple[str, str], bool]]:
    """(kind, channel) -> enabled for each user, defaults filled in."""
    table = {u: {(k, c): c == "in_app" or k in DEFAULT_EMAIL for k in KINDS for c in CHANNELS} for u in user_ids}
    if user_ids:
        rows = await session.execute(
            select(NotificationPreference).where(NotificationPreference.user_id.in_(set(user_ids)))
        )
        for row in rows.scalars():
            table[row.user_id][(row.kind, row.channel)] = row.enabled
    return table


async def user_settings(session: AsyncSession, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, NotificationSettings]:
    """Digest choice and reminder offsets per user (defaults for those who chose nothing)."""
    found = {}
    if user_ids:
        rows = await session.execute(select(NotificationSettings).where(NotificationSettings.user_id.in_(set(user_ids))))
        found = {r.user_id: r for r in rows.scalars()}
    return {u: found.get(u) or NotificationSettings(user_id=u, email_digest="off",
                                                     due_offsets_minutes=list(DEFAULT_DUE_OFFSETS)) for u in user_ids}


async def get_preferences(session: AsyncSession, actor: Actor, *, email_enabled: bool) -> PreferencesRead:
    """The caller's choices per kind and channel, digest and reminder offsets."""
    table = (await preference_table(session, [actor.user_id]))[actor.user_id]
    chosen = (await user_settings(session, [actor.user_id]))[actor.user_id]
    return PreferencesRead(
        kinds={k: ChannelChoice(in_app=table[(k, "in_app")], email=table[(k, "email")]) for k in KINDS},
        email_digest=chosen.email_digest, due_offsets_minutes=list(chosen.due_offsets_minutes),
        email_enabled=email_enabled,
    )


async def _set_preferences(session: AsyncSession, user_id: uuid.UUID, cmd: PreferencesUpdate) -> None:
    for kind, choice in cmd.kinds.items():
        for channel, enabled in choice.model_dump(exclude_none=True).items():
            row = await session.get(NotificationPreference, (user_id, kind, channel))
            if row is None:
                session.add(NotificationPreference(user_id=user_id, kind=kind, channel=channel, enabled=enabled))
            else:
                row.enabled = enabled
    if cmd.email_digest is not None or cmd.due_offsets_minutes is not None:
        row = await session.get(NotificationSettings, user_id)
        if row is None:
            row = NotificationSettings(user_id=user_id, email_digest="off", due_offsets_minutes=list(DEFAULT_DUE_OFFSETS))
            session.add(row)
        if cmd.email_digest is not None:
            row.email_digest = cmd.email_digest
        if cmd.due_offsets_minutes is not None:
            row.due_offsets_minutes = sorted(set(cmd.due_offsets_minutes), reverse=True)


@command
async def update_preferences(uow: UnitOfWork, actor: Actor, cmd: PreferencesUpdate, *, email_enabled: bool) -> PreferencesRead:
    """Change some choices; what is not given stays."""
    async with uow:
        await _set_preferences(uow.session, actor.user_id, cmd)
        await uow.session.flush()
        out = await get_preferences(uow.session, actor, email_enabled=email_enabled)
        await uow.commit()
    return out


async def board_watcher_ids(session: AsyncSession, board_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Who watches each board."""
    out: dict[uuid.UUID, list[uuid.UUID]] = {b: [] for b in board_ids}
    if board_ids:
        for board_id, user_id in await _BOARD_WATCHERS.all(session, {"ids": list(set(board_ids))}):
            out[board_id].append(user_id)
    return out


_BOARD_WATCHERS = Prepared(select(BoardWatcher.board_id, BoardWatcher.user_id)
                           .where(BoardWatcher.board_id.in_(bindparam("ids", expanding=True))))


async def is_watching_board(session: AsyncSession, actor: Actor, board_id: uuid.UUID) -> bool:
    """Whether the caller watches a board they can see."""
    await boards.readable_board(session, actor, board_id)
    return await session.get(BoardWatcher, (board_id, actor.user_id)) is not None


@command
async def set_board_watching(uow: UnitOfWork, actor: Actor, board_id: uuid.UUID, *, on: bool) -> bool:
    """Watch a board (every card on it) or stop."""
    async with uow:
        await boards.readable_board(uow.session, actor, board_id)
        row = await uow.session.get(BoardWatcher, (board_id, actor.user_id))
        if on and row is None:
            uow.session.add(BoardWatcher(board_id=board_id, user_id=actor.user_id, created_at=utcnow()))
        elif not on and row is not None:
            await uow.session.delete(row)
        await uow.commit()
    return on


def unsubscribe_token(secret: str, user_id: uuid.UUID, kind: str) -> str:
    """A signed link token turning off e-mail for one kind ("all": every e-mail and the digest)."""
    return jwt.encode({"sub": str(user_id), "kind": kind, "typ": UNSUBSCRIBE_TYP}, secret, algorithm="HS256")


def read_unsubscribe_token(secret: str, token: str) -> tuple[uuid.UUID, str]:
    """The user and kind of a valid unsubscribe token; NotFound otherwise."""
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"])
        if claims.get("typ") != UNSUBSCRIBE_TYP or claims.get("kind") not in (*KINDS, "all"):
            raise ValueError("wrong token type")
        return uuid.UUID(claims["sub"]), claims["kind"]
    except (jwt.InvalidTokenError, ValueError, KeyError, TypeError) as exc:
        raise NotFound("This unsubscribe link is not valid.") from exc


@command
async def unsubscribe(uow: UnitOfWork, secret: str, token: str) -> str:
    """Turn e-mail off as the link says; returns the kind ("all" for everything)."""
    user_id, kind = read_unsubscribe_token(secret, token)
    kinds = KINDS if kind == "all" else (kind,)
    cmd = PreferencesUpdate(kinds={k: {"email": False} for k in kinds},
                            email_digest="off" if kind == "all" else None)
    async with uow:
        if await auth_service.users_brief(uow.session, [user_id]):
            await _set_preferences(uow.session, user_id, cmd)
        await uow.commit()
    return kind
