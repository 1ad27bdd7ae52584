"""Auth HTTP routes: thin wrappers around the service."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Request, Response, status
from fastapi.responses import JSONResponse

from orbitask.auth import account, service, signup, workspaces
from orbitask.auth.deps import (
    ACCESS_COOKIE,
    CSRF_COOKIE,
    CSRF_HEADER,
    REFRESH_COOKIE,
    AnonUow,
    CurrentActor,
    PresentedAccessToken,
    ReadSession,
    RuntimeDep,
    SessionActor,
    Uow,
    login_limits,
    signup_limits,
)
from orbitask.auth.schemas import (
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenRead,
    InvitationAccepted,
    InvitationCreate,
    InvitationPreview,
    InvitationRead,
    LoginIn,
    LogoutIn,
    MemberRead,
    MemberUpdate,
    RefreshIn,
    RegisterIn,
    SessionOut,
    SignupPending,
    UserRead,
    VerifyIn,
    WorkspaceCreate,
    WorkspaceRead,
    WorkspaceUpdate,
)
from orbitask.core.context import withhold_from_replay
from orbitask.core.errors import Unauthorized
from orbitask.core.pagination import DEFAULT_LIMIT, Limit, Page
from orbitask.core.ratelimit import Limit as RateLimit
from orbitask.core.ratelimit import client_ip, enforce
from orbitask.core.runtime import Runtime

router = APIRouter(tags=["auth"])
RATE_LIMITED: dict[int | str, dict[str, object]] = {429: {"description": "Too many attempts; see Retry-After"}}


def _session_response(response: Response, rt: Runtime, issued: service.IssuedSession) -> SessionOut:
    user = UserRead.model_validate(issued.user)
    if issued.csrf_token is None:
        return SessionOut(user=user, access_token=issued.access_token, refresh_token=issued.refresh_token,
                          expires_in=issued.expires_in)
    secure = rt.settings.secure_cookies
    response.set_cookie(ACCESS_COOKIE, issued.access_token, max_age=issued.expires_in, httponly=True,
                        secure=secure, samesite="lax", path="/")
    response.set_cookie(REFRESH_COOKIE, issued.refresh_token, max_age=rt.settings.refresh_token_ttl_seconds,
                        httponly=True, secure=secure, samesite="strict", path="/api/v1/auth")
    response.set_cookie(CSRF_COOKIE, issued.csrf_token, max_age=rt.settings.refresh_token_ttl_seconds,
                        httponly=False, secure=secure, samesite="strict", path="/")
    return SessionOut(user=user, expires_in=issued.expires_in, csrf_token=issued.csrf_token)


SIGNUP_PENDING: dict[int | str, dict[str, object]] = {
    202: {"model": SignupPending, "description": "With sign-up verification on: a link was e-mailed to the address "
          "(or its owner was told it already has an account; the answer is the same)"},
}


@router.post("/auth/register", status_code=status.HTTP_201_CREATED, response_model=SessionOut,
             dependencies=[Depends(signup_limits)], responses={**RATE_LIMITED, **SIGNUP_PENDING})
async def register(cmd: RegisterIn, response: Response, rt: RuntimeDep, uow: AnonUow) -> SessionOut | Response:
    """Create an account (with a personal workspace) and sign in; with sign-up verification required, e-mail a link
    instead; with it optional, sign in and e-mail a link that marks the address verified."""
    mode = signup.signup_mode(rt.settings)
    if mode == "required":
        await signup.request_signup(uow, rt, cmd)
        return JSONResponse(SignupPending(email=cmd.email).model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED)
    issued = await service.register(uow, rt, cmd)
    if mode == "optional":
        await account.send_verification(rt.uow(issued.user.id), rt, issued.user.id)
    return _session_response(response, rt, issued)


@router.post("/auth/verify", response_model=SessionOut,
             responses={409: {"description": "The address already has an account"},
                        410: {"description": "The link is unknown, used or expired"}})
async def verify(cmd: VerifyIn, response: Response, rt: RuntimeDep, uow: AnonUow) -> SessionOut:
    """Finish a sign-up with its e-mailed link: create the account and sign in (`session: "cookie"` for browsers)."""
    return _session_response(response, rt, await signup.verify(uow, rt, cmd))


@router.post("/auth/login", response_model=SessionOut, dependencies=[Depends(login_limits)],
             responses=RATE_LIMITED)
async def login(cmd: LoginIn, response: Response, rt: RuntimeDep, uow: AnonUow) -> SessionOut:
    """Sign in with e-mail and password; `session: "cookie"` for browsers."""
    return _session_response(response, rt, await service.login(uow, rt, cmd))


@router.post("/auth/refresh", response_model=SessionOut)
async def refresh(
    request: Request, response: Response, rt: RuntimeDep, uow: AnonUow,
    cmd: Annotated[RefreshIn | None, Body()] = None,
) -> SessionOut:
    """Exchange a refresh token (body, or cookie plus CSRF header) for new tokens."""
    raw = cmd.refresh_token if cmd else None
    if raw is None:
        raw = request.cookies.get(REFRESH_COOKIE)
        sent = request.headers.get(CSRF_HEADER)
        if raw and (not sent or sent != request.cookies.get(CSRF_COOKIE)):
            raise Unauthorized("Missing or wrong X-CSRF-Token header for a cookie session.")
    if not raw:
        raise Unauthorized("Send the refresh token in the body or the session cookie.")
    return _session_response(response, rt, await service.refresh(uow, rt, raw))


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    request: Request, rt: RuntimeDep, uow: AnonUow, access_token: PresentedAccessToken,
    cmd: Annotated[LogoutIn | None, Body()] = None,
) -> Response:
    """End this session: revoke its refresh tokens and the access token sent with it, and clear cookies."""
    raw = (cmd.refresh_token if cmd else None) or request.cookies.get(REFRESH_COOKIE)
    await service.logout(uow, rt, raw, access_token)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    for name, path in ((ACCESS_COOKIE, "/"), (REFRESH_COOKIE, "/api/v1/auth"), (CSRF_COOKIE, "/")):
        response.delete_cookie(name, path=path)
    return response


@router.get("/me", response_model=UserRead)
async def me(actor: CurrentActor, session: ReadSession) -> UserRead:
    """The signed-in user."""
    return UserRead.model_validate(await service.get_user(session, actor.user_id))


@router.post("/me/api-tokens", status_code=status.HTTP_201_CREATED, response_model=ApiTokenCreated)
async def create_api_token(cmd: ApiTokenCreate, actor: SessionActor, uow: Uow) -> ApiTokenCreated:
    """A personal API token; the secret is in this response only."""
    withhold_from_replay()
    row, raw = await service.create_api_token(uow, actor, cmd)
    return ApiTokenCreated(**ApiTokenRead.model_validate(row).model_dump(), token=raw)


@router.get("/me/api-tokens", response_model=list[ApiTokenRead])
async def list_api_tokens(actor: SessionActor, session: ReadSession) -> list[ApiTokenRead]:
    """The caller's API tokens (never their secrets)."""
    return [ApiTokenRead.model_validate(t) for t in await service.list_api_tokens(session, actor)]


@router.delete("/me/api-tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_api_token(token_id: uuid.UUID, actor: SessionActor, uow: Uow) -> None:
    """Revoke an API token."""
    await service.revoke_api_token(uow, actor, token_id)


@router.post("/workspaces", status_code=status.HTTP_201_CREATED, response_model=WorkspaceRead)
async def create_workspace(cmd: WorkspaceCreate, actor: CurrentActor, uow: Uow) -> WorkspaceRead:
    """A new workspace owned by the caller."""
    return await workspaces.create_workspace(uow, actor, cmd)


@router.get("/workspaces", response_model=Page[WorkspaceRead])
async def list_workspaces(
    actor: CurrentActor, session: ReadSession, cursor: str | None = None, limit: Limit = DEFAULT_LIMIT
) -> Page[WorkspaceRead]:
    """Workspaces the caller belongs to."""
    items, next_cursor = await workspaces.list_workspaces(session, actor, cursor=cursor, limit=limit)
    return Page(items=items, next_cursor=next_cursor)


@router.get("/workspaces/{workspace_id}", response_model=WorkspaceRead)
async def get_workspace(workspace_id: uuid.UUID, actor: CurrentActor, session: ReadSession) -> WorkspaceRead:
    """One workspace."""
    return await workspaces.get_workspace(session, actor, workspace_id)


@router.patch("/workspaces/{workspace_id}", response_model=WorkspaceRead)
async def update_workspace(workspace_id: uuid.UUID, cmd: WorkspaceUpdate, actor: CurrentActor, uow: Uow) -> WorkspaceRead:
    """Rename or describe a workspace."""
    return await workspaces.update_workspace(uow, actor, workspace_id, cmd)


@router.delete("/workspaces/{workspace_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_workspace(workspace_id: uuid.UUID, actor: CurrentActor, uow: Uow) -> None:
    """Delete a workspace and everything in it (owners)."""
    await workspaces.delete_workspace(uow, actor, workspace_id)


@router.get("/workspaces/{workspace_id}/members", response_model=list[MemberRead])
async def list_members(workspace_id: uuid.UUID, actor: CurrentActor, session: ReadSession) -> list[MemberRead]:
    """Members and roles."""
    return await workspaces.list_members(session, actor, workspace_id)


@router.patch("/workspaces/{workspace_id}/members/{user_id}", response_model=MemberRead)
async def update_member(
    workspace_id: uuid.UUID, user_id: uuid.UUID, cmd: MemberUpdate, actor: CurrentActor, uow: Uow
) -> MemberRead:
    """Change a member's role."""
    return await workspaces.update_member(uow, actor, workspace_id, user_id, cmd)


@router.delete("/workspaces/{workspace_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_member(workspace_id: uuid.UUID, user_id: uuid.UUID, actor: CurrentActor, uow: Uow) -> None:
    """Remove a member, or leave."""
    await workspaces.remove_member(uow, actor, workspace_id, user_id)


@router.post("/workspaces/{workspace_id}/invitations", status_code=status.HTTP_201_CREATED,
             response_model=InvitationRead)
async def create_invitation(
    workspace_id: uuid.UUID, cmd: InvitationCreate, actor: CurrentActor, uow: Uow, rt: RuntimeDep
) -> InvitationRead:
    """An invitation link (shown once)."""
    withhold_from_replay()
    mail = rt.settings.smtp_host is not None
    inv, raw = await workspaces.create_invitation(
        uow, actor, workspace_id, cmd, ttl_seconds=rt.settings.invitation_ttl_seconds,
        email_link=f"{rt.settings.public_url}/invite/" if mail else None,
    )
    out = InvitationRead.model_validate(inv)
    out.emailed = mail and inv.email is not None
    out.token = raw
    out.url = f"{rt.settings.public_url}/invite/{raw}"  # never from the Host header
    return out


async def invitation_lookup_limits(request: Request, rt: RuntimeDep) -> None:
    """Refuse invitation look-ups past the per-address limit (429): a guess costs as much as a sign-in attempt."""
    limit = rt.settings.rate_limit_login_ip_per_minute
    await enforce(rt.limiter, [RateLimit("invitation_ip", client_ip(request.scope), limit)])


MAX_LINK_TOKEN = 128  # links carry 43 characters (secrets.token_urlsafe(32)); anything much longer is not one


@router.get("/invitations/{token}", response_model=InvitationPreview, dependencies=[Depends(invitation_lookup_limits)],
            responses={**RATE_LIMITED, 404: {"description": "The link is unknown, revoked, expired or used up"}})
async def preview_invitation(token: Annotated[str, Path(max_length=MAX_LINK_TOKEN)],
                             session: ReadSession) -> InvitationPreview:
    """Who invites to which workspace, for the sign-in page (no account needed; names only)."""
    return await workspaces.preview_invitation(session, token)


@router.post("/invitations/{token}/accept", response_model=InvitationAccepted)
async def accept_invitation(token: str, actor: CurrentActor, uow: Uow) -> InvitationAccepted:
    """Join a workspace through an invitation link."""
    return await workspaces.accept_invitation(uow, actor, token)
