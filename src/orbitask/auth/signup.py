"""Sign-up through an e-mailed link (ORBITASK_SIGNUP_VERIFICATION): the answer never tells who has an account.

`request_signup` answers the same, after the same work, for a new and a taken address: it hashes the
password and queues one e-mail either way (the link that finishes signing up, or a note to the account's
owner), at most EMAILS_PER_ADDRESS_PER_HOUR per address. `verify` turns a link into the account and a session.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.audit import service as audit
from orbitask.auth import service
from orbitask.auth.models import SignupRequest, User
from orbitask.auth.schemas import RegisterIn, VerifyIn
from orbitask.auth.security import digest, random_token
from orbitask.config import Settings
from orbitask.core.db import utcnow
from orbitask.core.errors import Conflict, DomainError
from orbitask.core.ratelimit import Limit
from orbitask.core.runtime import Runtime
from orbitask.core.uow import UnitOfWork, command
from orbitask.notifications import email as mail

LINK_TTL = dt.timedelta(hours=24)
EMAILS_PER_ADDRESS_PER_HOUR = 5
LINK_GONE = "This sign-up link has expired or was already used; sign up again to get a new one."
ADDRESS_TAKEN = "This address already has an account: sign in."


class SignupLinkGone(DomainError):
    """An unknown, used or expired sign-up link (one answer for all three)."""

    status, type, title = 410, "signup-link-gone", "Sign-up link expired or used"


def signup_mode(settings: Settings) -> Literal["required", "optional", "off"]:
    """E-mail verification at sign-up: the setting (true: required, false: off), or when unset, required when
    e-mail is configured."""
    mode = settings.signup_verification
    if mode is None:
        return "required" if settings.smtp_host else "off"
    if isinstance(mode, bool):
        return "required" if mode else "off"
    return mode


def verification_required(settings: Settings) -> bool:
    """Whether sign-up finishes through an e-mailed link (the account is made once it is opened)."""
    return signup_mode(settings) == "required"


async def request_signup(uow: UnitOfWork, rt: Runtime, cmd: RegisterIn) -> None:
    """E-mail a link that finishes signing up, or tell the address's owner they already have an account."""
    email = cmd.email.lower()
    # hashed for a taken address too (and past the bound): how long the answer takes tells nothing
    password_hash = await rt.passwords.hash(cmd.password)
    bound = Limit("signup_email", digest(email)[:32], EMAILS_PER_ADDRESS_PER_HOUR, window_s=3600)
    if not (await rt.limiter.hit([bound])).allowed:
        return  # the same answer: an address cannot be flooded with mail, and nobody learns it was tried
    await _record(uow, rt.settings, email=email, name=cmd.name, password_hash=password_hash)


@command
async def _record(uow: UnitOfWork, settings: Settings, *, email: str, name: str, password_hash: str) -> None:
    """Store a pending sign-up and queue its link, or queue the owner's note: one transaction, one e-mail."""
    now = utcnow()
    async with uow:
        await uow.session.execute(
            delete(SignupRequest).where(SignupRequest.email == email, SignupRequest.expires_at <= now)
        )
        owner = await uow.session.scalar(select(User).where(User.email == email))
        if owner is None:
            raw = random_token()
            pending = SignupRequest(email=email, name=name, password_hash=password_hash, token_hash=digest(raw),
                                    created_at=now, expires_at=now + LINK_TTL)
            uow.session.add(pending)
            await uow.session.flush()
            audit.record(uow.session, "signup.requested", target_type="signup_request", target_id=pending.id,
                         email=email)
            _queue_link(uow.session, settings, pending, raw)
        else:
            audit.record(uow.session, "signup.account_exists", target_type="user", target_id=owner.id, email=email)
            _queue_account_exists(uow.session, settings, owner)
        # no outbox event on either path: the answer's consistency token must not differ between them
        await uow.commit()


def _queue_link(session: AsyncSession, settings: Settings, pending: SignupRequest, raw: str) -> None:
    subject = "Finish signing up to Orbitask"
    # the name given is not in the e-mail: anyone can make Orbitask write to any address, not with their words
    text, html = mail.render("signup_link", subject, url=f"{settings.public_url}/verify/{raw}",
                             expires_at=pending.expires_at.strftime("%Y-%m-%d %H:%M"))
    mail.queue(session, key=f"signup:{pending.id}", to=pending.email, subject=subject, text=text, html=html)


def _queue_account_exists(session: AsyncSession, settings: Settings, owner: User) -> None:
    subject = "Someone tried to sign up to Orbitask with your address"
    text, html = mail.render("signup_account_exists", subject, name=owner.name,
                             signin_url=f"{settings.public_url}/signin")
    mail.queue(session, key=f"signup-exists:{random_token(16)}", to=owner.email, subject=subject, text=text,
               html=html, user_id=owner.id)


@command
async def verify(uow: UnitOfWork, rt: Runtime, cmd: VerifyIn) -> service.IssuedSession:
    """Create the account of a pending sign-up (with its personal workspace) and sign it in; the link works once."""
    now = utcnow()
    async with uow:
        pending = await uow.session.scalar(
            select(SignupRequest).where(SignupRequest.token_hash == digest(cmd.token)).with_for_update()
        )
        if pending is not None and pending.expires_at <= now:
            await uow.session.delete(pending)
            await uow.commit()
            pending = None
        if pending is None:
            raise SignupLinkGone(LINK_GONE)
        if await uow.session.scalar(select(User.id).where(User.email == pending.email)) is not None:
            raise Conflict(ADDRESS_TAKEN)  # another link for this address was opened first
        await uow.session.delete(pending)
        try:
            user = await service.create_account(uow, email=pending.email, name=pending.name,
                                                password_hash=pending.password_hash)
        except IntegrityError:  # another link for this address, opened at the same moment
            raise Conflict(ADDRESS_TAKEN) from None
        user.email_verified_at = now  # the link went to the address
        audit.record(uow.session, "signup.verified", actor_id=user.id, target_type="user", target_id=user.id,
                     signup_request_id=pending.id)
        issued = service.issue_session(uow, rt, user, cookie=cmd.session == "cookie")
        await uow.commit()
    return issued
