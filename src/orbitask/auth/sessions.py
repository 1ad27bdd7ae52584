"""Sessions: each sign-in (a refresh-token family, by the same id) with its device, address and region,
listed and revoked by its owner, and all of an account's at once when it is disabled.

Revoking a session revokes its refresh tokens in the database and names its family in the revocation
list (core/revocation.py), which every access token of the family is checked against on each request:
the next request with one answers 401, not only the next refresh. The revocation list is the region's
(Redis, or the process): the same transaction writes a `user.signed_out` event, which the event log
carries to every region, where `revocation_listener` adds the families to that region's list (as soon as
the region's replica has the event, like any data written in the writer region).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Awaitable, Callable

import orjson
from fastapi import Request
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.audit import service as audit
from orbitask.auth.models import RefreshToken, User, UserSession
from orbitask.core import context
from orbitask.core.db import utcnow
from orbitask.core.errors import NotFound
from orbitask.core.events import DomainEvent, event_type
from orbitask.core.ratelimit import client_ip
from orbitask.core.runtime import Runtime
from orbitask.core.schemas import Output
from orbitask.core.uow import UnitOfWork, command

CLIENT = "session_client"  # the request state's entry for (user agent, client address) of a sign-in
UNKNOWN_DEVICE = "Unknown device"

# most specific first: Edge and Opera say "Chrome" too, Chrome says "Safari"
_BROWSERS = (("Edg/", "Edge"), ("EdgA/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("FxiOS/", "Firefox"),
             ("CriOS/", "Chrome"), ("Chrome/", "Chrome"), ("Chromium/", "Chromium"), ("Safari/", "Safari"),
             ("curl/", "curl"), ("python-httpx/", "httpx"), ("python-requests/", "Python requests"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"), ("CrOS", "ChromeOS"),
            ("Windows", "Windows"), ("Mac OS X", "macOS"), ("Macintosh", "macOS"), ("Linux", "Linux"))


def describe_device(user_agent: str | None) -> str:
    """A person's name for a User-Agent: "Chrome on Linux", "Safari on iOS", "curl"; "Unknown device" when unsure."""
    ua = (user_agent or "")[:512]
    browser = next((name for token, name in _BROWSERS if token in ua), None)
    system = next((name for token, name in _SYSTEMS if re.search(rf"\b{re.escape(token)}", ua)), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or (f"A browser on {system}" if system else UNKNOWN_DEVICE)


def remember_client(request: Request) -> None:
    """Keep the sign-in's user agent and client address (as the rate limiter sees it) for `open_session`."""
    state = context.current()
    if state is not None:
        state.extra[CLIENT] = (request.headers.get("user-agent"), client_ip(request.scope))


def open_session(uow: UnitOfWork, rt: Runtime, *, user_id: uuid.UUID, family_id: uuid.UUID, now: dt.datetime,
                 expires_at: dt.datetime) -> None:
    """Record a new sign-in, in the caller's transaction."""
    state = context.current()
    # a sign-in path that did not keep its client (an e-mailed link's) shows the address the request came from
    fallback = (None, state.extra.get("client_ip", "")) if state is not None else (None, "")
    agent, ip = state.extra.get(CLIENT, fallback) if state is not None else fallback  # type: ignore[misc]
    uow.session.add(UserSession(id=family_id, user_id=user_id, device=describe_device(agent)[:100],
                                ip=str(ip or "unknown")[:64], region=rt.settings.region[:64], created_at=now,
                                last_seen_at=now, expires_at=expires_at))


async def touch_session(session: AsyncSession, family_id: uuid.UUID, *, now: dt.datetime,
                        expires_at: dt.datetime) -> None:
    """A refresh: the session was seen now, and lives as long as its newest refresh token."""
    await session.execute(update(UserSession).where(UserSession.id == family_id)
                          .values(last_seen_at=now, expires_at=expires_at))


async def end_sessions(session: AsyncSession, family_ids: set[uuid.UUID] | list[uuid.UUID], now: dt.datetime) -> None:
    """Mark sessions signed out, with their refresh tokens, in the caller's transaction."""
    if not family_ids:
        return
    ids = list(family_ids)
    await session.execute(update(RefreshToken).where(RefreshToken.family_id.in_(ids), RefreshToken.revoked_at.is_(None))
                          .values(revoked_at=now))
    await session.execute(update(UserSession).where(UserSession.id.in_(ids), UserSession.revoked_at.is_(None))
                          .values(revoked_at=now))


async def refuse_access(rt: Runtime, family_ids: set[uuid.UUID] | list[uuid.UUID]) -> None:
    """Refuse every access token issued to these sign-ins until the newest could have expired (after the commit)."""
    for family_id in family_ids:
        await rt.revocations.revoke(f"fam:{family_id}", rt.tokens.ttl + 1)


@event_type("user.signed_out")
class SignedOut(DomainEvent):
    """Sessions signed out by their owner, or by disabling the account: every region refuses their access tokens."""

    user_id: uuid.UUID
    session_ids: list[uuid.UUID]


def announce(uow: UnitOfWork, user_id: uuid.UUID, family_ids: set[uuid.UUID] | list[uuid.UUID]) -> None:
    """Write the event that carries these revocations to the other regions, in the caller's transaction."""
    if family_ids:
        uow.emit(SignedOut(user_id=user_id, session_ids=sorted(family_ids)))


def revocation_listener(rt: Runtime) -> Callable[[bytes], Awaitable[None]]:
    """A handler for the region's events channel: applies `user.signed_out` to this region's revocation list."""

    async def handle(message: bytes) -> None:
        event = orjson.loads(message)
        if event.get("type") == SignedOut.type:
            await refuse_access(rt, [uuid.UUID(i) for i in event["payload"]["session_ids"]])

    return handle


class SessionRead(Output):
    """One active sign-in of the caller."""

    id: uuid.UUID
    device: str
    ip: str
    region: str
    created_at: dt.datetime
    last_seen_at: dt.datetime
    current: bool = False


class SessionsRevoked(Output):
    revoked: int


async def list_sessions(session: AsyncSession, user_id: uuid.UUID, current: uuid.UUID | None) -> list[SessionRead]:
    """The user's sessions not signed out nor expired, most recently seen first."""
    rows = await session.scalars(
        select(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None), UserSession.expires_at > utcnow())
        .order_by(UserSession.last_seen_at.desc(), UserSession.id)
    )
    return [SessionRead.model_validate(r).model_copy(update={"current": r.id == current}) for r in rows]


@command
async def revoke_session(uow: UnitOfWork, rt: Runtime, user_id: uuid.UUID, session_id: uuid.UUID) -> None:
    """Sign one of the user's sessions out (404 for anyone else's, or one already gone)."""
    now = utcnow()
    async with uow:
        row = await uow.session.get(UserSession, session_id)
        if row is None or row.user_id != user_id or row.revoked_at is not None:
            raise NotFound("No such session.")
        await end_sessions(uow.session, [session_id], now)
        announce(uow, user_id, [session_id])
        audit.record(uow.session, "session.revoked", actor_id=user_id, target_type="session", target_id=session_id)
        await uow.commit()
    await refuse_access(rt, [session_id])


@command
async def revoke_other_sessions(uow: UnitOfWork, rt: Runtime, user_id: uuid.UUID, current: uuid.UUID | None) -> int:
    """Sign out every session of the user but `current`; how many were signed out."""
    now = utcnow()
    async with uow:
        families = await live_families(uow.session, rt, user_id, now) - {current}
        await end_sessions(uow.session, families, now)
        announce(uow, user_id, families)
        audit.record(uow.session, "session.revoked_others", actor_id=user_id, target_type="user", target_id=user_id,
                     count=len(families))
        await uow.commit()
    await refuse_access(rt, families)
    return len(families)


async def live_families(session: AsyncSession, rt: Runtime, user_id: uuid.UUID, now: dt.datetime) -> set[uuid.UUID]:
    """Every sign-in of the user that a refresh token or an access token may still use: not revoked, or
    with a token issued within an access token's lifetime (an access token is issued with each refresh token)."""
    recent = now - dt.timedelta(seconds=rt.tokens.ttl + 1)
    rows = await session.scalars(
        select(RefreshToken.family_id).distinct()
        .where(RefreshToken.user_id == user_id, (RefreshToken.revoked_at.is_(None)) | (RefreshToken.created_at >= recent))
    )
    return set(rows)


@command
async def set_active(uow: UnitOfWork, rt: Runtime, email: str, *, active: bool) -> User | None:
    """Enable or disable an account by address (None when there is none). Disabling signs every session out
    and stops its access tokens and API tokens at their next request; enabling lets it sign in again."""
    now = utcnow()
    families: set[uuid.UUID] = set()
    async with uow:
        user = await uow.session.scalar(select(User).where(User.email == email.lower()).with_for_update())
        if user is None:
            return None
        user.is_active = active
        if not active:
            families = await live_families(uow.session, rt, user.id, now)
            await end_sessions(uow.session, families, now)
            announce(uow, user.id, families)
        audit.record(uow.session, "user.enabled" if active else "user.disabled", target_type="user", target_id=user.id,
                     email=user.email)
        await uow.commit()
    await refuse_access(rt, families)
    return user

