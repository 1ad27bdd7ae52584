"""Account routes: password reset, change password, change and verify the e-mail address, the profile."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse

from orbitask.auth import account, recovery
from orbitask.auth.deps import AnonUow, CurrentActor, PresentedAccessToken, RuntimeDep, SessionActor, Uow
from orbitask.auth.schemas import (
    AccountLinkSent,
    EmailChange,
    EmailConfirm,
    EmailConfirmed,
    PasswordChange,
    PasswordResetConfirm,
    PasswordResetIn,
    ProfileUpdate,
    UserRead,
)
from orbitask.core.ratelimit import Limit, client_ip

router = APIRouter(tags=["auth"])
RATE_LIMITED: dict[int | str, dict[str, object]] = {429: {"description": "Too many attempts; see Retry-After"}}
NO_EMAIL: dict[int | str, dict[str, object]] = {409: {"description": "This server sends no e-mail"}}
INVALID_LINK: dict[int | str, dict[str, object]] = {400: {"description": "The link is unknown, used or expired"}}
WRONG_PASSWORD: dict[int | str, dict[str, object]] = {403: {"description": "The current password is wrong"}}


def _sent(email: str) -> Response:
    return JSONResponse(AccountLinkSent(email=email).model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED)


async def reset_limits(request: Request, rt: RuntimeDep) -> None:
    """Refuse reset requests past the per-client-address limit (429); the per-address e-mail bound is silent."""
    verdict = await rt.limiter.hit(
        [Limit("password_reset_ip", client_ip(request.scope), rt.settings.rate_limit_signup_per_minute)])
    if not verdict.allowed:
        raise recovery.refused(verdict, "password reset requests from your address")


@router.post("/auth/password-reset", status_code=status.HTTP_202_ACCEPTED, response_model=AccountLinkSent,
             dependencies=[Depends(reset_limits)], responses={**RATE_LIMITED, **NO_EMAIL})
async def request_password_reset(cmd: PasswordResetIn, rt: RuntimeDep, uow: AnonUow) -> Response:
    """E-mail a password reset link (30 minutes, once); the same answer whether or not the address has an account."""
    await recovery.request_reset(uow, rt, cmd.email)
    return _sent(cmd.email)


@router.post("/auth/password-reset/confirm", status_code=status.HTTP_204_NO_CONTENT, responses=INVALID_LINK)
async def confirm_password_reset(cmd: PasswordResetConfirm, rt: RuntimeDep, uow: AnonUow) -> None:
    """Set a new password with a reset link; every session of the account is signed out."""
    await recovery.confirm_reset(uow, rt, cmd)


@router.post("/auth/password", status_code=status.HTTP_204_NO_CONTENT, responses={**RATE_LIMITED, **WRONG_PASSWORD})
async def change_password(
    cmd: PasswordChange, actor: SessionActor, rt: RuntimeDep, uow: Uow, access_token: PresentedAccessToken
) -> None:
    """Change the password; the account's other sessions are signed out, this one stays."""
    await account.change_password(uow, rt, actor, cmd, access_token)


@router.post("/auth/email", status_code=status.HTTP_202_ACCEPTED, response_model=AccountLinkSent,
             responses={**RATE_LIMITED, **WRONG_PASSWORD, **NO_EMAIL})
async def change_email(cmd: EmailChange, actor: SessionActor, rt: RuntimeDep, uow: Uow) -> Response:
    """E-mail a link (24 hours, once) that makes `new_email` the account's address; the old address is told."""
    await account.request_email_change(uow, rt, actor, cmd)
    return _sent(cmd.new_email)


@router.post("/auth/email/confirm", response_model=EmailConfirmed,
             responses={**INVALID_LINK, 409: {"description": "The new address has an account by now"}})
async def confirm_email(cmd: EmailConfirm, uow: AnonUow) -> EmailConfirmed:
    """Open a link e-mailed to an address: it becomes the account's address, or is marked verified."""
    return await account.confirm_email(uow, cmd)


@router.post("/auth/email/verification", status_code=status.HTTP_202_ACCEPTED, response_model=AccountLinkSent,
             responses={**RATE_LIMITED, 409: {"description": "Already verified, or this server sends no e-mail"}})
async def resend_verification(actor: SessionActor, rt: RuntimeDep, uow: Uow) -> Response:
    """E-mail the caller's address a link that marks it verified."""
    return _sent(await account.send_verification(uow, rt, actor.user_id, resend=True))


@router.patch("/me", response_model=UserRead)
async def update_profile(cmd: ProfileUpdate, actor: CurrentActor, uow: Uow) -> UserRead:
    """Change the caller's name, time zone (IANA) or language."""
    return UserRead.model_validate(await account.update_profile(uow, actor, cmd))
