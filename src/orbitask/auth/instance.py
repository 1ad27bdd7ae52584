"""The instance's sign-up policy (ORBITASK_SIGNUP_POLICY) and its administrator, the first account.

A refusal never depends on whether the address has an account: the policy is checked before anything
is looked up by address. The very first account is always allowed and becomes the administrator; of
two first sign-ups at the same moment, the `first_account` row's primary key lets only one claim it.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.audit import service as audit
from orbitask.auth.models import FirstAccount, Invitation, User
from orbitask.auth.security import digest
from orbitask.config import Settings
from orbitask.core.db import utcnow
from orbitask.core.errors import DomainError
from orbitask.core.schemas import Output
from orbitask.core.uow import UnitOfWork

router = APIRouter(tags=["auth"])


class SignupClosed(DomainError):
    """Sign-up needs an invitation on this instance (invite-only)."""

    status, type, title = 403, "signup-closed", "Sign-up is by invitation only"


class SignupDomainNotAllowed(DomainError):
    """The address's domain is not one the instance admits (domains policy)."""

    status, type, title = 403, "signup-domain-not-allowed", "This e-mail domain may not sign up"


CLOSED = "This instance accepts new accounts only through an invitation link; ask a workspace admin for one."
NOT_ALLOWED = "This instance accepts new accounts only for some e-mail domains, and not this address's."


class InstanceRead(Output):
    """What anyone may know about the instance before signing in."""

    signup_policy: Literal["open", "invite-only", "domains"]
    signup_domains: list[str] | None = Field(None, description="with the domains policy: the domains that may sign up")


@router.get("/instance", response_model=InstanceRead, response_model_exclude_none=True)
async def get_instance(request: Request) -> InstanceRead:
    """The instance's sign-up policy (public: the sign-in page hides "Sign up" when it is closed)."""
    s: Settings = request.app.state.runtime.settings
    return InstanceRead(signup_policy=s.signup_policy,
                        signup_domains=s.signup_domains if s.signup_policy == "domains" else None)


def domain_allowed(settings: Settings, email: str) -> bool:
    """Whether the address's domain is one the domains policy lists (exact, without case)."""
    return email.rpartition("@")[2].lower() in settings.signup_domains


async def has_accounts(session: AsyncSession) -> bool:
    """Whether the instance has any account yet."""
    return await session.scalar(select(User.id).limit(1)) is not None


async def check_signup(session: AsyncSession, settings: Settings, *, email: str, invitation: str | None) -> None:
    """Refuse a sign-up the policy does not allow (403), before the address is looked up.

    The instance's first account is always allowed. Invite-only admits a usable invitation for this
    address (joining it, and counting the use, is the sign-up's own work: workspaces.join_by_invitation).
    """
    if settings.signup_policy == "open" or not await has_accounts(session):
        return
    if settings.signup_policy == "domains" and not domain_allowed(settings, email):
        raise SignupDomainNotAllowed(NOT_ALLOWED)
    if settings.signup_policy == "invite-only" and (not invitation or not await usable_invitation(session, invitation,
                                                                                                 email)):
        raise SignupClosed(CLOSED)


async def usable_invitation(session: AsyncSession, raw: str, email: str) -> bool:
    """Whether the invitation a link names can still admit this address (one answer for every reason not)."""
    inv = await session.scalar(select(Invitation).where(Invitation.token_hash == digest(raw)))
    if inv is None or inv.revoked_at is not None or inv.expires_at <= utcnow():
        return False
    if inv.max_uses is not None and inv.uses >= inv.max_uses:
        return False
    return not inv.email or inv.email.lower() == email.lower()


async def claim_first_account(uow: UnitOfWork, user: User, *, first: bool) -> None:
    """Make `user` the instance's administrator when it is the first account (flushed at once: of two
    concurrent first sign-ups, the second fails here with an IntegrityError, and its command retries)."""
    if not first:
        return
    uow.session.add(FirstAccount(id=1, user_id=user.id, created_at=utcnow()))
    await uow.session.flush()
    user.is_admin = True
    audit.record(uow.session, "instance.admin_assigned", actor_id=user.id, target_type="user", target_id=user.id,
                 reason="first account")
