"""Accounts and credentials: register, sign in, refresh, sign out, API tokens."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.audit import service as audit
from orbitask.auth import events, instance, sessions
from orbitask.auth.models import ApiToken, RefreshToken, User
from orbitask.auth.policy import Actor
from orbitask.auth.schemas import ApiTokenCreate, LoginIn, RegisterIn, UserBrief
from orbitask.auth.security import API_TOKEN_PREFIX, digest, new_api_token, random_token
from orbitask.auth.workspaces import add_workspace_with_owner, join_by_invitation
from orbitask.core.db import utcnow
from orbitask.core.errors import Conflict, NotFound, RateLimited, Unauthorized
from orbitask.core.prepared import Prepared
from orbitask.core.runtime import Runtime
from orbitask.core.uow import UnitOfWork, command

BAD_CREDENTIALS = "The e-mail or password is incorrect."
# failed sign-ins for an address with no account are counted under a stand-in id derived from the
# address, so it backs off exactly like an account: a different answer would tell who has one
UNKNOWN_ADDRESSES = uuid.uuid5(uuid.NAMESPACE_URL, "https://orbitask.dev/sign-in/unknown-address")


@dataclass
class IssuedSession:
    """Tokens handed to a client after sign-in or refresh."""

    user: User
    access_token: str
    refresh_token: str
    csrf_token: str | None
    expires_in: int


def issue_session(
    uow: UnitOfWork, rt: Runtime, user: User, *, cookie: bool, family_id: uuid.UUID | None = None
) -> IssuedSession:
    """A new session for `user` (a new refresh-token family unless `family_id`), in the caller's transaction."""
    raw = random_token()
    csrf = random_token(24) if cookie else None
    now = utcnow()
    expires_at = now + dt.timedelta(seconds=rt.settings.refresh_token_ttl_seconds)
    if family_id is None:
        family_id = uuid.uuid4()
        sessions.open_session(uow, rt, user_id=user.id, family_id=family_id, now=now, expires_at=expires_at)
    uow.session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id,
            token_hash=digest(raw),
            csrf_token=csrf,
            created_at=now,
            expires_at=expires_at,
        )
    )
    access = rt.tokens.issue(user.id, csrf=csrf, family=family_id)
    return IssuedSession(user, access, raw, csrf, rt.tokens.ttl)


def revocation_names(claims: dict[str, Any]) -> list[str]:
    """What revokes an access token: its own id, or its sign-in (refresh family)."""
    names = [f"jti:{claims['jti']}"] if claims.get("jti") else []
    if claims.get("fam"):
        names.append(f"fam:{claims['fam']}")
    return names


async def verify_access(rt: Runtime, token: str) -> dict[str, Any]:
    """The claims of a valid, unrevoked access token; Unauthorized otherwise."""
    claims = rt.tokens.verify(token)
    if await rt.revocations.any_revoked(revocation_names(claims)):
        raise Unauthorized("This access token was revoked (signed out); sign in again.")
    return claims


async def issue_socket_ticket(rt: Runtime, actor: Actor, access_token: str | None, ttl: int) -> str:
    """A WebSocket ticket for the caller, bound to the sign-in (refresh family) of the access token asking."""
    claims = rt.tokens.claims_or_none(access_token)
    family = uuid.UUID(claims["fam"]) if claims is not None and claims.get("fam") else None
    return rt.tokens.issue(actor.user_id, typ="ws", ttl=ttl, family=family)


async def redeem_socket_ticket(rt: Runtime, ticket: str) -> uuid.UUID:
    """The user a WebSocket ticket names. It opens one socket, and none once its sign-in has signed out."""
    claims = rt.tokens.verify(ticket, typ="ws")
    if claims.get("fam") and await rt.revocations.any_revoked([f"fam:{claims['fam']}"]):
        raise Unauthorized("This ticket's session has signed out; sign in again.")
    # used = revoked until it would have expired anyway: a copy (a log line, a proxy) opens nothing
    if not await rt.revocations.claim(f"jti:{claims['jti']}", int(claims["exp"] - time.time()) + 1):
        raise Unauthorized("This ticket was already used; ask POST /api/v1/ws/tickets for another.")
    return claims["sub"]  # type: ignore[no-any-return]


async def _revoke_family_access(rt: Runtime, family_id: uuid.UUID) -> None:
    """Refuse every access token issued to this sign-in until the newest could have expired."""
    await rt.revocations.revoke(f"fam:{family_id}", rt.tokens.ttl + 1)


async def register(uow: UnitOfWork, rt: Runtime, cmd: RegisterIn) -> IssuedSession:
    """Create an account as the sign-up policy allows; the instance's first account is its administrator."""
    try:
        return await _register(uow, rt, cmd)
    except IntegrityError:  # two first accounts at once (one claimed the role), or one address twice: look again
        return await _register(uow, rt, cmd)


@command
async def _register(uow: UnitOfWork, rt: Runtime, cmd: RegisterIn) -> IssuedSession:
    """Create an account with a personal workspace (or, through an invitation, in the invited one) and sign it in."""
    email = cmd.email.lower()
    password_hash = await rt.passwords.hash(cmd.password)
    async with uow:
        # before the address is looked up: a refusal must not tell whether it has an account
        await instance.check_signup(uow.session, rt.settings, email=email, invitation=cmd.invitation)
        taken = await uow.session.scalar(select(User.id).where(User.email == email))
        if taken is not None:
            raise Conflict("An account with this e-mail already exists; sign in instead.")
        user = await create_account(uow, email=email, name=cmd.name, password_hash=password_hash,
                                    personal_workspace=cmd.invitation is None)
        if cmd.invitation is not None:  # joins in this transaction: a refused link makes no account
            await join_by_invitation(uow, user, cmd.invitation)
        issued = issue_session(uow, rt, user, cookie=cmd.session == "cookie")
        await uow.commit()
    return issued


async def create_account(
    uow: UnitOfWork, *, email: str, name: str, password_hash: str, personal_workspace: bool = True
) -> User:
    """A new account (with its personal workspace unless told not to), in the caller's transaction (the address is free)."""
    first = not await instance.has_accounts(uow.session)
    user = User(email=email, name=name, password_hash=password_hash, created_at=utcnow())
    uow.session.add(user)
    await uow.session.flush()
    await instance.claim_first_account(uow, user, first=first)
    uow.actor_id = user.id
    uow.emit(events.UserRegistered(user_id=user.id, name=user.name))
    if personal_workspace:
        await add_workspace_with_owner(uow, user.id, f"{name}'s workspace")
    return user


@command
async def login(uow: UnitOfWork, rt: Runtime, cmd: LoginIn) -> IssuedSession:
    """Check credentials and open a new session (a new refresh-token family)."""
    email = cmd.email.lower()
    # Verify outside the write transaction: hashing is slow and must not hold the writer.
    async with rt.db.read_session(on_writer=True) as session:
        user = await session.scalar(select(User).where(User.email == email))
        attempter = user.id if user is not None else uuid.uuid5(UNKNOWN_ADDRESSES, email)
        s = rt.settings
        wait = await audit.login_backoff(session, attempter, utcnow(), after=s.login_backoff_after,
                                         base_s=s.login_backoff_seconds, cap_s=s.login_backoff_max_seconds)
        if wait:
            raise RateLimited(f"Too many failed sign-ins for this account; retry in {wait} s.",
                              retry_after=wait, limit="login_backoff")
    ok = await rt.passwords.verify(user.password_hash if user else None, cmd.password)  # same work without a user
    if user is None or not ok or not user.is_active:
        await audit.record_alone(rt.db, "login.failed", actor_id=attempter, target_type="user",
                                 target_id=user.id if user else None, email=email,
                                 reason="unknown e-mail" if user is None else "wrong password" if not ok
                                 else "deactivated")
        raise Unauthorized(BAD_CREDENTIALS)
    async with uow:
        issued = issue_session(uow, rt, user, cookie=cmd.session == "cookie")
        audit.record(uow.session, "login.succeeded", actor_id=user.id, target_type="user", target_id=user.id,
                     session_kind=cmd.session)
        await uow.commit()
    return issued


@command
async def refresh(uow: UnitOfWork, rt: Runtime, raw: str) -> IssuedSession:
    """Rotate a refresh token. Presenting a used one revokes its whole family."""
    now = utcnow()
    async with uow:
        row = await uow.session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == digest(raw)).with_for_update()
        )
        if row is None:
            raise Unauthorized("The refresh token is not valid.")
        if row.used_at is not None or row.revoked_at is not None:
            await sessions.end_sessions(uow.session, [row.family_id], now)
            audit.record(uow.session, "session.reuse_detected", actor_id=row.user_id, target_type="session",
                         target_id=row.family_id)
            await uow.commit()
            await _revoke_family_access(rt, row.family_id)
            raise Unauthorized(
                "This refresh token was already used or revoked; every session from that sign-in is now "
                "signed out. Sign in again."
            )
        if row.expires_at <= now:
            raise Unauthorized("The refresh token has expired; sign in again.")
        user = await uow.session.get(User, row.user_id)
        if user is None or not user.is_active:
            raise Unauthorized("The refresh token is not valid.")
        row.used_at = now
        issued = issue_session(uow, rt, user, cookie=row.csrf_token is not None, family_id=row.family_id)
        await sessions.touch_session(uow.session, row.family_id, now=now,
                                     expires_at=now + dt.timedelta(seconds=rt.settings.refresh_token_ttl_seconds))
        await uow.commit()
    return issued


@command
async def logout(uow: UnitOfWork, rt: Runtime, raw: str | None, access_token: str | None = None) -> None:
    """End a session: revoke its refresh-token family and its access tokens (no error if already gone).

    The session is named by the refresh token, the access token, or both.
    """
    claims = rt.tokens.claims_or_none(access_token)
    families: set[uuid.UUID] = set()
    if claims is not None and claims.get("fam"):
        families.add(uuid.UUID(claims["fam"]))
    async with uow:
        if raw:
            row = await uow.session.scalar(select(RefreshToken).where(RefreshToken.token_hash == digest(raw)))
            if row is not None:
                families.add(row.family_id)
        await sessions.end_sessions(uow.session, families, utcnow())
        await uow.commit()
    if claims is not None:
        remaining = int(claims["exp"] - time.time()) + 1
        await rt.revocations.revoke(f"jti:{claims['jti']}", remaining)
    for family_id in families:
        await _revoke_family_access(rt, family_id)


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    """A user by id."""
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        raise Unauthorized("This account no longer exists.")
    return user


async def users_brief(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, UserBrief]:
    """Public profiles of users by id."""
    if not ids:
        return {}
    rows = await _USERS_BRIEF.all(session, {"ids": list(set(ids))})
    return {u.id: UserBrief.model_validate(u) for u in rows}


_USERS_BRIEF = Prepared(select(User.id, User.name, User.email).where(User.id.in_(bindparam("ids", expanding=True))))


async def authenticate_api_token(session: AsyncSession, raw: str) -> uuid.UUID:
    """The user a personal API token belongs to."""
    if not raw.startswith(API_TOKEN_PREFIX):
        raise Unauthorized("The API token is not valid.")
    row = await session.scalar(
        select(ApiToken).join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == digest(raw), User.is_active.is_(True))
    )
    if row is None or row.revoked_at is not None:
        raise Unauthorized("The API token is not valid or has been revoked.")
    if row.expires_at is not None and row.expires_at <= utcnow():
        raise Unauthorized("The API token has expired.")
    return row.user_id


@command
async def create_api_token(uow: UnitOfWork, actor: Actor, cmd: ApiTokenCreate) -> tuple[ApiToken, str]:
    """A new personal API token; the secret is returned once and never stored."""
    raw, prefix = new_api_token()
    now = utcnow()
    expires = now + dt.timedelta(days=cmd.expires_in_days) if cmd.expires_in_days else None
    async with uow:
        row = ApiToken(
            user_id=actor.user_id, name=cmd.name, prefix=prefix, token_hash=digest(raw),
            created_at=now, expires_at=expires,
        )
        uow.session.add(row)
        await uow.session.flush()
        audit.record(uow.session, "api_token.created", actor_id=actor.user_id, target_type="api_token",
                     target_id=row.id, name=cmd.name, prefix=prefix, expires_at=expires.isoformat() if expires else None)
        await uow.commit()
    return row, raw


async def list_api_tokens(session: AsyncSession, actor: Actor) -> list[ApiToken]:
    """The caller's API tokens (without secrets)."""
    rows = await session.execute(
        select(ApiToken).where(ApiToken.user_id == actor.user_id).order_by(ApiToken.created_at)
    )
    return list(rows.scalars())


@command
async def revoke_api_token(uow: UnitOfWork, actor: Actor, token_id: uuid.UUID) -> None:
    """Revoke one of the caller's API tokens."""
    async with uow:
        row = await uow.session.get(ApiToken, token_id)
        if row is None or row.user_id != actor.user_id:
            raise NotFound("No such API token.")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            audit.record(uow.session, "api_token.revoked", actor_id=actor.user_id, target_type="api_token",
                         target_id=row.id, name=row.name, prefix=row.prefix)
        await uow.commit()


PLACEHOLDER_DOMAIN = "placeholder.orbitask.invalid"  # .invalid: no one can register or receive mail there


async def create_placeholder_user(uow: UnitOfWork, name: str) -> uuid.UUID:
    """An inactive account that stands for a named person who has not joined (it can never sign in)."""
    user = User(email=f"{uuid.uuid4().hex}@{PLACEHOLDER_DOMAIN}", name=name, password_hash="!", is_active=False,
                created_at=utcnow())
    uow.session.add(user)
    await uow.session.flush()
    return user.id


async def profiles(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[str, str, bool]]:
    """(name, e-mail, can sign in) of users by id, for imports and exports."""
    if not ids:
        return {}
    rows = await session.execute(select(User.id, User.name, User.email, User.is_active).where(User.id.in_(set(ids))))
    return {uid: (name, email, active) for uid, name, email, active in rows.all()}


async def user_id_by_email(session: AsyncSession, email: str) -> uuid.UUID | None:
    """An active user's id by e-mail address (any case)."""
    return await session.scalar(select(User.id).where(User.email == email.lower(), User.is_active.is_(True)))
