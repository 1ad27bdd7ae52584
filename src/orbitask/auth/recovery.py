"""Password reset by an e-mailed link, and the single-use links of accounts (account_token) that account.py shares.

`request_reset` answers the same, after comparable work (one transaction, one audit entry), whether or not
the address has an account, and e-mails at most EMAILS_PER_ADDRESS_PER_HOUR links per address. A link works
once, for RESET_TTL; using it sets the password and signs the account out everywhere: every refresh token is
revoked, and so is every sign-in (refresh family) whose access tokens may still be alive.
"""

from __future__ import annotations

import datetime as dt
import hmac
import uuid

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.audit import service as audit
from orbitask.auth import service
from orbitask.auth.models import AccountToken, RefreshToken, User
from orbitask.auth.schemas import PasswordResetConfirm
from orbitask.auth.security import digest, random_token
from orbitask.config import Settings
from orbitask.core.db import utcnow
from orbitask.core.errors import Conflict, DomainError, NotFound, RateLimited
from orbitask.core.ratelimit import Limit, Verdict
from orbitask.core.runtime import Runtime
from orbitask.core.uow import UnitOfWork, command
from orbitask.notifications import email as mail

RESET = "password_reset"
EMAIL_CHANGE = "email_change"
EMAIL_VERIFY = "email_verify"
RESET_TTL = dt.timedelta(minutes=30)
EMAILS_PER_ADDRESS_PER_HOUR = 5
# an access token is issued only with a refresh token: a sign-in whose newest refresh token is older than
# the access tokens' lifetime (and this margin, for clocks that differ between nodes) has none alive
CLOCK_MARGIN = dt.timedelta(seconds=60)
INVALID_LINK = "This link cannot be used: it has expired, was already used, or was never sent. Ask for a new one."
NO_EMAIL = ("This server does not send e-mail, so it cannot send this link: ask its administrator "
            "(`orbitask admin users reset-link`).")


class InvalidToken(DomainError):
    """An unknown, used, expired or other kind of account link (one answer for all)."""

    status, type, title = 400, "invalid-token", "Invalid or expired link"


def refused(verdict: Verdict, what: str) -> RateLimited:
    """The 429 problem for a request one of this module's limits refused."""
    return RateLimited(f"Too many {what}; retry in {verdict.retry_after} s.", retry_after=verdict.retry_after,
                       limit=verdict.limit)


def require_email(settings: Settings) -> None:
    """Refuse (409) a request whose only point is an e-mail, when the server sends none."""
    if not settings.smtp_host:
        raise Conflict(NO_EMAIL)


def address_bound(name: str, address: str) -> Limit:
    """At most EMAILS_PER_ADDRESS_PER_HOUR e-mails of one kind to one address: nobody floods an inbox."""
    return Limit(name, digest(address)[:32], EMAILS_PER_ADDRESS_PER_HOUR, window_s=3600)


def new_token(
    session: AsyncSession, *, user_id: uuid.UUID, kind: str, ttl: dt.timedelta, new_email: str | None = None
) -> tuple[AccountToken, str]:
    """A single-use link's token (the raw secret, returned once) and its stored row, in the caller's transaction."""
    raw = random_token()  # secrets.token_urlsafe(32)
    now = utcnow()
    row = AccountToken(user_id=user_id, kind=kind, token_hash=digest(raw), new_email=new_email, created_at=now,
                       expires_at=now + ttl)
    session.add(row)
    return row, raw


async def redeem(session: AsyncSession, raw: str, kinds: tuple[str, ...], *, consume: bool = True) -> AccountToken:
    """The locked, unused and unexpired token `raw` of one of `kinds`, marked used; InvalidToken otherwise."""
    hashed = digest(raw)
    row = await session.scalar(select(AccountToken).where(AccountToken.token_hash == hashed).with_for_update())
    # found by its hash; compared again in constant time so no code path depends on how much of it matched
    if (row is None or not hmac.compare_digest(row.token_hash, hashed) or row.kind not in kinds
            or row.used_at is not None or row.expires_at <= utcnow()):
        raise InvalidToken(INVALID_LINK)
    if consume:
        row.used_at = utcnow()
    return row


async def retire_tokens(session: AsyncSession, user_id: uuid.UUID, *kinds: str) -> None:
    """Mark the user's unused links of `kinds` used, and forget the expired ones."""
    now = utcnow()
    if kinds:
        await session.execute(update(AccountToken).where(
            AccountToken.user_id == user_id, AccountToken.kind.in_(kinds), AccountToken.used_at.is_(None),
        ).values(used_at=now))
    await session.execute(delete(AccountToken).where(AccountToken.user_id == user_id, AccountToken.expires_at <= now))


async def end_sessions(
    session: AsyncSession, rt: Runtime, user_id: uuid.UUID, *, keep: uuid.UUID | None = None
) -> set[uuid.UUID]:
    """Revoke every refresh token of the user but those of sign-in `keep`; the sign-ins whose access tokens
    may still be alive, to revoke after the commit (`revoke_access`)."""
    now = utcnow()
    alive_since = now - dt.timedelta(seconds=rt.tokens.ttl) - CLOCK_MARGIN
    families = set((await session.scalars(select(RefreshToken.family_id).distinct().where(
        RefreshToken.user_id == user_id, RefreshToken.created_at >= alive_since))).all())
    ended = update(RefreshToken).where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
    if keep is not None:
        ended = ended.where(RefreshToken.family_id != keep)
        families.discard(keep)
    await session.execute(ended.values(revoked_at=now))
    return families


async def revoke_access(rt: Runtime, families: set[uuid.UUID]) -> None:
    """Refuse the access tokens of these sign-ins from their next request on (as signing out does)."""
    for family_id in families:
        await service._revoke_family_access(rt, family_id)


async def request_reset(uow: UnitOfWork, rt: Runtime, email: str) -> None:
    """E-mail a password reset link if the address has an account; the same answer and work if not."""
    require_email(rt.settings)
    email = email.lower()
    if not (await rt.limiter.hit([address_bound("password_reset_email", email)])).allowed:
        return  # the same answer: an address cannot be flooded, and nobody learns it was tried
    await _record_reset(uow, rt.settings, email)


@command
async def _record_reset(uow: UnitOfWork, settings: Settings, email: str) -> None:
    """Store a reset token and queue its e-mail, or only note the request: one transaction either way."""
    async with uow:
        user = await uow.session.scalar(select(User).where(User.email == email))
        if user is not None and user.is_active:
            await retire_tokens(uow.session, user.id)
            row, raw = new_token(uow.session, user_id=user.id, kind=RESET, ttl=RESET_TTL)
            await uow.session.flush()
            _queue_reset(uow.session, settings, user, row, raw)
        # no outbox event on either path: the answer's consistency token must not differ between them
        audit.record(uow.session, "password_reset.requested", target_type="user",
                     target_id=user.id if user is not None and user.is_active else None, email=email)
        await uow.commit()


def _queue_reset(session: AsyncSession, settings: Settings, user: User, row: AccountToken, raw: str) -> None:
    subject = "Reset your Orbitask password"
    text, html = mail.render("password_reset", subject, name=user.name,
                             url=f"{settings.public_url}/reset-password/{raw}",
                             expires_at=row.expires_at.strftime("%Y-%m-%d %H:%M"))
    mail.queue(session, key=f"password-reset:{row.id}", to=user.email, subject=subject, text=text, html=html,
               user_id=user.id)


async def confirm_reset(uow: UnitOfWork, rt: Runtime, cmd: PasswordResetConfirm) -> None:
    """Set a new password with a reset link (once) and sign the account out everywhere."""
    async with rt.db.read_session(on_writer=True) as session:
        await redeem(session, cmd.token, (RESET,), consume=False)  # a forged or stale link costs no hashing
    password_hash = await rt.passwords.hash(cmd.password)
    await revoke_access(rt, await _apply_reset(uow, rt, cmd.token, password_hash))


@command
async def _apply_reset(uow: UnitOfWork, rt: Runtime, raw: str, password_hash: str) -> set[uuid.UUID]:
    async with uow:
        row = await redeem(uow.session, raw, (RESET,))
        user = await uow.session.get(User, row.user_id, with_for_update=True)
        if user is None or not user.is_active:
            raise InvalidToken(INVALID_LINK)
        user.password_hash = password_hash
        # whoever had the account may have asked to move it to their own address: that link dies too
        await retire_tokens(uow.session, user.id, RESET, EMAIL_CHANGE)
        families = await end_sessions(uow.session, rt, user.id)
        audit.record(uow.session, "password_reset.completed", actor_id=user.id, target_type="user",
                     target_id=user.id, sessions_ended=len(families))
        await uow.commit()
    return families


async def create_reset_link(
    session: AsyncSession, *, user_id: uuid.UUID, settings: Settings | None = None, ttl: dt.timedelta = RESET_TTL
) -> str:
    """A password reset link for a user, stored like an e-mailed one, in the caller's transaction (for admins)."""
    settings = settings or Settings()
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("No such account.")
    await retire_tokens(session, user_id)
    row, raw = new_token(session, user_id=user_id, kind=RESET, ttl=ttl)
    await session.flush()
    audit.record(session, "password_reset.link_created", target_type="user", target_id=user_id,
                 expires_at=row.expires_at.isoformat())
    return f"{settings.public_url}/reset-password/{raw}"
