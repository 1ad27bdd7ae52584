"""Dependencies: the runtime, the caller, units of work and consistent read sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Scope

from orbitask.auth import instance, service, sessions
from orbitask.auth.policy import Actor
from orbitask.auth.schemas import LoginIn, RegisterIn
from orbitask.auth.security import API_TOKEN_PREFIX, digest
from orbitask.core import context
from orbitask.core.errors import Forbidden, Unauthorized
from orbitask.core.ratelimit import Limit, Rider, client_ip, enforce
from orbitask.core.reads import consistent_read
from orbitask.core.runtime import Runtime
from orbitask.core.uow import UnitOfWork

ACCESS_COOKIE = "orbitask_access"
REFRESH_COOKIE = "orbitask_refresh"
CSRF_COOKIE = "orbitask_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

bearer = HTTPBearer(auto_error=False, description="JWT access token or personal API token (ot_...)")
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _runtime(request: Request) -> Runtime:
    """The runtime, read directly: each dependency FastAPI solves costs it some 10 µs per request, and
    a dependency's own dependencies are solved again wherever it is used (docs/benchmarks-history.md, "Seventh and eighth passes")."""
    return request.app.state.runtime  # type: ignore[no-any-return]


async def get_runtime(request: Request) -> Runtime:
    """The process runtime."""
    return _runtime(request)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A read session that has caught up with the client's X-Orbitask-Token."""
    rt = _runtime(request)
    state = context.current()
    token = state.read_token if state is not None else None
    async with consistent_read(rt.db, token, rt.settings.read_wait_timeout_seconds) as session:
        yield session


ReadSession = Annotated[AsyncSession, Depends(read_session)]


async def current_actor(request: Request, creds: BearerCredentials) -> Actor:
    """The authenticated caller: Bearer JWT, personal API token, or session cookie plus CSRF header."""
    rt = _runtime(request)
    if creds is not None:
        if creds.credentials.startswith(API_TOKEN_PREFIX):
            async with consistent_read(rt.db, None, 0) as session:
                user_id = await service.authenticate_api_token(session, creds.credentials)
            return Actor(user_id, "api_token")
        return Actor((await service.verify_access(rt, creds.credentials))["sub"], "bearer")
    cookie = request.cookies.get(ACCESS_COOKIE)
    if cookie:
        claims = await service.verify_access(rt, cookie)
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER)
            if not sent or sent != claims.get("csrf"):
                raise Forbidden("Missing or wrong X-CSRF-Token header for a cookie session.")
        return Actor(claims["sub"], "cookie")
    raise Unauthorized("Sign in first: send 'Authorization: Bearer <token>' or a session cookie.")


CurrentActor = Annotated[Actor, Depends(current_actor)]


async def session_actor(actor: CurrentActor) -> Actor:
    """The caller, signed in with a session (not a personal API token): for managing credentials."""
    if actor.via == "api_token":
        raise Forbidden("A personal API token cannot create, list or revoke API tokens; sign in to manage them.")
    return actor


SessionActor = Annotated[Actor, Depends(session_actor)]


async def presented_access_token(request: Request, creds: BearerCredentials) -> str | None:
    """The JWT access token the request carries (Bearer or cookie), unverified; None for API tokens."""
    if creds is not None:
        return None if creds.credentials.startswith(API_TOKEN_PREFIX) else creds.credentials
    return request.cookies.get(ACCESS_COOKIE)


PresentedAccessToken = Annotated[str | None, Depends(presented_access_token)]


async def login_limits(request: Request, rt: RuntimeDep, cmd: LoginIn) -> None:
    """Refuse sign-in attempts past the per-address and per-e-mail limits (429), before any password work; keep
    the device and address the session will show."""
    sessions.remember_client(request)
    s = rt.settings
    await enforce(rt.limiter, [
        Limit("login_ip", client_ip(request.scope), s.rate_limit_login_ip_per_minute),
        Limit("login_email", digest(cmd.email.lower())[:32], s.rate_limit_login_per_minute),
    ])


async def signup_limits(request: Request, rt: RuntimeDep, cmd: RegisterIn) -> None:
    """Refuse sign-ups past the per-address limit (429) and those the sign-up policy does not allow (403) on either
    path (at once, or through an e-mailed link); keep the device and address the session will show."""
    sessions.remember_client(request)
    await enforce(rt.limiter, [Limit("signup_ip", client_ip(request.scope), rt.settings.rate_limit_signup_per_minute)])
    if rt.settings.signup_policy != "open":
        async with rt.db.read_session(on_writer=True) as session:
            await instance.check_signup(session, rt.settings, email=cmd.email.lower(), invitation=cmd.invitation)


async def get_uow(request: Request, actor: CurrentActor) -> UnitOfWork:
    """A unit of work acting for the caller."""
    return _runtime(request).uow(actor.user_id)


Uow = Annotated[UnitOfWork, Depends(get_uow)]


async def anonymous_uow(request: Request) -> UnitOfWork:
    """A unit of work for sign-up and sign-in."""
    return _runtime(request).uow(None)


AnonUow = Annotated[UnitOfWork, Depends(anonymous_uow)]


class RequestIdentity:
    """Who a request is, for scoping Idempotency-Key and rate limits (verified signature, no database), and
    its full authentication, which a stored idempotent answer must pass as a fresh request would."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def __call__(self, headers: dict[str, str], client_ip: str) -> str:
        """`u:<user>`, `t:<API token digest>`, or `ip:<address>` when no credential verifies."""
        return self.credential(headers, client_ip)[0]

    def credential(self, headers: dict[str, str], client_ip: str) -> tuple[str, Rider | None]:
        """Who (as calling it) and, for an access token, the check of what would revoke it, sent with the
        request's rate limits so that `current_actor` finds the answer without another round trip."""
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            raw = auth[7:].strip()
            if raw.startswith(API_TOKEN_PREFIX):
                return "t:" + digest(raw)[:40], None
            claims = self.rt.tokens.claims_or_none(raw)
            if claims is not None:
                return f"u:{claims['sub']}", self.rt.revocations.riding(service.revocation_names(claims))
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == ACCESS_COOKIE:
                claims = self.rt.tokens.claims_or_none(value)
                if claims is not None:
                    return f"u:{claims['sub']}", self.rt.revocations.riding(service.revocation_names(claims))
        return f"ip:{client_ip}"[:80], None

    async def authenticate(self, scope: Scope) -> None:
        """Raise what the route's own authentication would: a revoked, expired or missing credential, no CSRF header."""
        request = Request(scope)
        await current_actor(request, await bearer(request))


def idempotency_scope(rt: Runtime) -> RequestIdentity:
    """Who a request is, for scoping Idempotency-Key and rate limits."""
    return RequestIdentity(rt)
