"""The signed-in user's own account: change the password or the e-mail address, verify the address, the profile.

Every change of a credential asks for the current password, with the bounds of signing in: a per-account
rate limit, and a wrong password counts as a failed sign-in (the same backoff). A new address takes effect
only once a link e-mailed to it is opened; the old address is told. A taken address is not revealed to the
requester: its link goes to its owner, and opening it answers 409 there.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.audit import service as audit
from orbitask.auth import recovery
from orbitask.auth.models import User, Workspace, WorkspaceMember
from orbitask.auth.policy import Actor
from orbitask.auth.recovery import EMAIL_CHANGE, EMAIL_VERIFY, RESET, InvalidToken
from orbitask.auth.schemas import EmailChange, EmailConfirm, EmailConfirmed, PasswordChange, ProfileUpdate
from orbitask.config import Settings
from orbitask.core.db import utcnow
from orbitask.core.errors import Conflict, Forbidden, InvalidInput, RateLimited, Unauthorized
from orbitask.core.ratelimit import Limit
from orbitask.core.runtime import Runtime
from orbitask.core.uow import UnitOfWork, command
from orbitask.notifications import email as mail

LINK_TTL = dt.timedelta(hours=24)
WRONG_PASSWORD = "The current password is incorrect."
ADDRESS_TAKEN = "This address already has an Orbitask account, so it cannot become another account's address."


async def check_password(rt: Runtime, user_id: uuid.UUID, password: str) -> User:
    """The user, once `password` is theirs; 429 past the sign-in bounds, 403 for a wrong password."""
    s = rt.settings
    verdict = await rt.limiter.hit([Limit("password_check", str(user_id), s.rate_limit_login_per_minute)])
    if not verdict.allowed:
        raise recovery.refused(verdict, "password attempts for this account")
    async with rt.db.read_session(on_writer=True) as session:
        user = await session.get(User, user_id)
        if user is None or not user.is_active:
            raise Unauthorized("This account no longer exists.")
        wait = await audit.login_backoff(session, user.id, utcnow(), after=s.login_backoff_after,
                                         base_s=s.login_backoff_seconds, cap_s=s.login_backoff_max_seconds)
    if wait:
        raise RateLimited(f"Too many wrong passwords for this account; retry in {wait} s.", retry_after=wait,
                          limit="login_backoff")
    if not await rt.passwords.verify(user.password_hash, password):
        # counted as a failed sign-in: a stolen session cannot guess the password faster than the sign-in form
        await audit.record_alone(rt.db, "login.failed", actor_id=user.id, target_type="user", target_id=user.id,
                                 email=user.email, reason="wrong current password")
        raise Forbidden(WRONG_PASSWORD)
    return user


async def change_password(
    uow: UnitOfWork, rt: Runtime, actor: Actor, cmd: PasswordChange, access_token: str | None
) -> None:
    """Set a new password; every other sign-in of the account is signed out, the caller's stays."""
    await check_password(rt, actor.user_id, cmd.current_password)
    password_hash = await rt.passwords.hash(cmd.new_password)
    claims = rt.tokens.claims_or_none(access_token)
    keep = uuid.UUID(claims["fam"]) if claims is not None and claims.get("fam") else None
    await recovery.revoke_access(rt, await _store_password(uow, rt, actor.user_id, password_hash, keep))


@command
async def _store_password(
    uow: UnitOfWork, rt: Runtime, user_id: uuid.UUID, password_hash: str, keep: uuid.UUID | None
) -> set[uuid.UUID]:
    async with uow:
        user = await uow.session.get(User, user_id, with_for_update=True)
        if user is None:
            raise Unauthorized("This account no longer exists.")
        user.password_hash = password_hash
        # the old address is told of a change asked with a stolen session: a new password voids its link
        await recovery.retire_tokens(uow.session, user_id, RESET, EMAIL_CHANGE)
        families = await recovery.end_sessions(uow.session, rt, user_id, keep=keep)
        audit.record(uow.session, "password.changed", actor_id=user_id, target_type="user", target_id=user_id,
                     sessions_ended=len(families))
        await uow.commit()
    return families


async def request_email_change(uow: UnitOfWork, rt: Runtime, actor: Actor, cmd: EmailChange) -> None:
    """E-mail a confirmation link to the new address and a notice to the current one."""
    recovery.require_email(rt.settings)
    user = await check_password(rt, actor.user_id, cmd.current_password)
    new_email = cmd.new_email.lower()
    if new_email == user.email:
        raise InvalidInput("This is already your address.")
    if not (await rt.limiter.hit([recovery.address_bound("email_change_email", new_email)])).allowed:
        return  # the same answer as for any address: whether it has an account is not told here
    await _record_email_change(uow, rt.settings, user.id, new_email)


@command
async def _record_email_change(uow: UnitOfWork, settings: Settings, user_id: uuid.UUID, new_email: str) -> None:
    async with uow:
        user = await uow.session.get(User, user_id)
        if user is None:
            raise Unauthorized("This account no longer exists.")
        await recovery.retire_tokens(uow.session, user_id)
        row, raw = recovery.new_token(uow.session, user_id=user_id, kind=EMAIL_CHANGE, ttl=LINK_TTL,
                                      new_email=new_email)
        await uow.session.flush()
        subject = "Confirm your new Orbitask e-mail address"
        text, html = mail.render("email_change_confirm", subject, name=user.name,
                                 url=f"{settings.public_url}/confirm-email/{raw}",
                                 expires_at=row.expires_at.strftime("%Y-%m-%d %H:%M"))
        mail.queue(uow.session, key=f"email-change:{row.id}", to=new_email, subject=subject, text=text, html=html)
        subject = "Your Orbitask e-mail address is being changed"
        text, html = mail.render("email_change_notice", subject, name=user.name, new_email=new_email,
                                 signin_url=f"{settings.public_url}/signin")
        mail.queue(uow.session, key=f"email-change-notice:{row.id}", to=user.email, subject=subject, text=text,
                   html=html, user_id=user_id)
        audit.record(uow.session, "email.change_requested", actor_id=user_id, target_type="user", target_id=user_id,
                     new_email=new_email)
        await uow.commit()


async def send_verification(uow: UnitOfWork, rt: Runtime, user_id: uuid.UUID, *, resend: bool = False) -> str:
    """E-mail a link that marks the user's address verified (sign-up with verification optional, or again);
    the address. Past the per-address bound a resend is refused (429), a sign-up's link silently not sent."""
    recovery.require_email(rt.settings)
    async with rt.db.read_session(on_writer=True) as session:
        user = await session.get(User, user_id)
    if user is None or not user.is_active:
        raise Unauthorized("This account no longer exists.")
    if user.email_verified_at is not None:
        raise Conflict("Your address is already verified.")
    verdict = await rt.limiter.hit([recovery.address_bound("email_verify_email", user.email)])
    if not verdict.allowed:
        if resend:
            raise recovery.refused(verdict, "verification e-mails to this address")
        return user.email
    await _record_verification(uow, rt.settings, user_id)
    return user.email


@command
async def _record_verification(uow: UnitOfWork, settings: Settings, user_id: uuid.UUID) -> None:
    async with uow:
        user = await uow.session.get(User, user_id)
        if user is None:
            raise Unauthorized("This account no longer exists.")
        row, raw = recovery.new_token(uow.session, user_id=user_id, kind=EMAIL_VERIFY, ttl=LINK_TTL,
                                      new_email=user.email)
        await uow.session.flush()
        subject = "Verify your Orbitask e-mail address"
        text, html = mail.render("email_verify", subject, name=user.name,
                                 url=f"{settings.public_url}/confirm-email/{raw}",
                                 expires_at=row.expires_at.strftime("%Y-%m-%d %H:%M"))
        mail.queue(uow.session, key=f"email-verify:{row.id}", to=user.email, subject=subject, text=text, html=html,
                   user_id=user_id)
        audit.record(uow.session, "email.verification_sent", actor_id=user_id, target_type="user", target_id=user_id)
        await uow.commit()


@command
async def confirm_email(uow: UnitOfWork, cmd: EmailConfirm) -> EmailConfirmed:
    """Open an e-mailed link: the new address becomes the account's, or the address is verified; once."""
    async with uow:
        row = await recovery.redeem(uow.session, cmd.token, (EMAIL_CHANGE, EMAIL_VERIFY))
        user = await uow.session.get(User, row.user_id, with_for_update=True)
        if user is None or not user.is_active or row.new_email is None:
            raise InvalidToken(recovery.INVALID_LINK)
        now = utcnow()
        if row.kind == EMAIL_VERIFY:
            if user.email != row.new_email:  # the address changed since the link was sent
                raise InvalidToken(recovery.INVALID_LINK)
            user.email_verified_at = user.email_verified_at or now
            audit.record(uow.session, "email.verified", actor_id=user.id, target_type="user", target_id=user.id)
        else:
            taken = await uow.session.scalar(select(User.id).where(User.email == row.new_email, User.id != user.id))
            if taken is not None:
                raise Conflict(ADDRESS_TAKEN)
            old, user.email, user.email_verified_at = user.email, row.new_email, now
            # links sent to the old address (a reset) or for another change are void now
            await recovery.retire_tokens(uow.session, user.id, RESET, EMAIL_CHANGE, EMAIL_VERIFY)
            await _names_changed(uow.session, user.id)
            audit.record(uow.session, "email.changed", actor_id=user.id, target_type="user", target_id=user.id,
                         old_email=old, new_email=user.email)
        try:
            await uow.commit()
        except IntegrityError:  # the address was taken at the same moment
            raise Conflict(ADDRESS_TAKEN) from None
    return EmailConfirmed(email=user.email)


@command
async def update_profile(uow: UnitOfWork, actor: Actor, cmd: ProfileUpdate) -> User:
    """Change the caller's name, time zone or language (only the fields sent)."""
    async with uow:
        user = await uow.session.get(User, actor.user_id, with_for_update=True)
        if user is None or not user.is_active:
            raise Unauthorized("This account no longer exists.")
        if cmd.name is not None and cmd.name != user.name:
            user.name = cmd.name
            await _names_changed(uow.session, user.id)
        if cmd.time_zone is not None:
            user.time_zone = cmd.time_zone
        if cmd.language is not None:
            user.language = cmd.language
        await uow.commit()
    return user


async def _names_changed(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Board snapshots carry members' names and addresses, keyed by their workspace's membership version."""
    await session.execute(
        update(Workspace)
        .where(Workspace.id.in_(select(WorkspaceMember.workspace_id).where(WorkspaceMember.user_id == user_id)))
        .values(members_version=Workspace.members_version + 1)
    )
