"""E-mail: templates (text and HTML), the mail outbox, the SMTP sender and the digest.

Messages are rendered when they are queued (in the transaction that decided to send
them) and sent by the `email` job: at least once, retried with backoff while the SMTP
server refuses or is down. Once sent, the bodies are dropped (an invitation link is a
secret); the row stays as a log of what was sent to whom.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from email.message import EmailMessage as MimeMessage
from email.utils import formataddr, make_msgid
from functools import lru_cache
from typing import Any

import aiosmtplib
import structlog
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.config import Settings
from orbitask.core.db import Database, utcnow
from orbitask.notifications.models import EmailMessage, Notification, NotificationSettings
from orbitask.notifications.service import unsubscribe_token

log = structlog.get_logger("orbitask.email")

SEND_BATCH = 50
DIGEST_BATCH = 50
DIGEST_MAX_ITEMS = 100
RETRY_BASE_S = 30.0
RETRY_MAX_S = 3600.0
DIGEST_PERIODS = {"hourly": dt.timedelta(hours=1), "daily": dt.timedelta(days=1)}


@lru_cache(maxsize=1)
def templates() -> Environment:
    """Jinja2 templates; HTML ones autoescaped, a missing variable is an error."""
    return Environment(
        loader=PackageLoader("orbitask.notifications", "templates"),
        autoescape=select_autoescape(["html"]), undefined=StrictUndefined, keep_trailing_newline=True,
    )


def render(template: str, subject: str, **context: Any) -> tuple[str, str]:
    """The text and HTML bodies of `template`."""
    env = templates()
    context.setdefault("unsubscribe_url", None)
    context.setdefault("preferences_url", None)
    return (env.get_template(f"{template}.txt").render(subject=subject, **context),
            env.get_template(f"{template}.html").render(subject=subject, **context))


def links(settings: Settings, user_id: uuid.UUID, kind: str) -> dict[str, str]:
    """Preferences and one-click unsubscribe links for a user's e-mail of `kind`."""
    token = unsubscribe_token(settings.signing_key, user_id, kind)
    return {
        "preferences_url": f"{settings.public_url}/account",  # the web app's settings live on the Account page
        "unsubscribe_url": f"{settings.public_url}/api/v1/notifications/unsubscribe?token={token}",
    }


def queue(
    session: AsyncSession, *, key: str, to: str, subject: str, text: str, html: str,
    user_id: uuid.UUID | None = None, unsubscribe_url: str | None = None,
) -> EmailMessage:
    """Add an e-mail to the outbox in the caller's transaction (`key` makes it unique)."""
    headers = {"Auto-Submitted": "auto-generated"}
    if unsubscribe_url:
        headers["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    row = EmailMessage(
        dedupe_key=key[:120], user_id=user_id, to_addr=to, subject=subject[:300], text_body=text, html_body=html,
        headers=headers, status="pending", attempts=0, next_attempt_at=utcnow(), created_at=utcnow(),
    )
    session.add(row)
    return row


def queue_notification(
    session: AsyncSession, settings: Settings, note: Notification, *, to: str, name: str
) -> EmailMessage:
    """The e-mail for one notification."""
    urls = links(settings, note.user_id, note.kind)
    text, html = render("notification", note.title, name=name, title=note.title, body=note.body, url=note.url, **urls)
    return queue(session, key=f"notification:{note.id}", to=formataddr((name, to)), subject=note.title,
                 text=text, html=html, user_id=note.user_id, unsubscribe_url=urls["unsubscribe_url"])


def queue_invitation(
    session: AsyncSession, *, to: str, inviter: str, workspace: str, role: str, url: str,
    expires_at: dt.datetime, invitation_id: uuid.UUID,
) -> EmailMessage:
    """The e-mail carrying a workspace invitation link (call it in the invitation's transaction)."""
    subject = f"{inviter} invited you to {workspace} on Orbitask"
    text, html = render("invitation", subject, inviter=inviter, workspace=workspace, role=role, url=url,
                        expires_at=expires_at.strftime("%Y-%m-%d %H:%M"))
    return queue(session, key=f"invitation:{invitation_id}", to=to, subject=subject, text=text, html=html)


def _mime(settings: Settings, row: EmailMessage) -> MimeMessage:
    msg = MimeMessage()
    msg["From"] = settings.email_from
    msg["To"] = row.to_addr
    msg["Subject"] = row.subject
    msg["Message-ID"] = make_msgid(idstring=row.id.hex, domain="orbitask")
    for name, value in (row.headers or {}).items():
        msg[name] = value
    msg.set_content(row.text_body)
    msg.add_alternative(row.html_body, subtype="html")
    return msg


def _smtp(settings: Settings) -> aiosmtplib.SMTP:
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    return aiosmtplib.SMTP(
        hostname=settings.smtp_host, port=settings.smtp_port, username=settings.smtp_username, password=password,
        use_tls=settings.smtp_security == "tls", start_tls=True if settings.smtp_security == "starttls" else False,
        timeout=settings.smtp_timeout_seconds,
    )


async def send_pending(db: Database, settings: Settings) -> int:
    """Send the e-mails that are due (one SMTP connection per batch); returns how many were tried."""
    now = utcnow()
    async with db.read_session(on_writer=True) as session:
        rows = list((await session.execute(
            select(EmailMessage).where(EmailMessage.status == "pending", EmailMessage.next_attempt_at <= now)
            .order_by(EmailMessage.next_attempt_at).limit(SEND_BATCH)
        )).scalars())
    if not rows:
        return 0
    results: dict[uuid.UUID, str | None] = {}
    smtp = _smtp(settings)
    try:
        async with smtp:
            for row in rows:
                try:
                    await smtp.send_message(_mime(settings, row))
                    results[row.id] = None
                except aiosmtplib.SMTPException as exc:
                    results[row.id] = f"{type(exc).__name__}: {exc}"[:500]
    except (aiosmtplib.SMTPException, OSError) as exc:  # could not connect, or the connection broke
        error = f"{type(exc).__name__}: {exc}"[:500]
        for row in rows:
            results.setdefault(row.id, error)
    async with db.write_transaction() as session:
        for row in rows:
            error = results[row.id]
            if error is None:
                await session.execute(update(EmailMessage).where(EmailMessage.id == row.id).values(
                    status="sent", sent_at=utcnow(), attempts=row.attempts + 1, text_body="", html_body="",
                    last_error=None))
                continue
            attempts = row.attempts + 1
            delay = min(RETRY_MAX_S, RETRY_BASE_S * 2 ** (attempts - 1)) * random.uniform(0.5, 1.0)
            failed = attempts >= settings.email_max_attempts
            log.warning("email_send_failed", attempts=attempts, gave_up=failed, error=error)
            await session.execute(update(EmailMessage).where(EmailMessage.id == row.id).values(
                status="failed" if failed else "pending", attempts=attempts, last_error=error,
                next_attempt_at=utcnow() + dt.timedelta(seconds=delay)))
    return len(rows)


async def send_digests(db: Database, settings: Settings, users: dict[uuid.UUID, Any], now: dt.datetime) -> int:
    """Queue one digest e-mail per user whose period has passed; returns how many were queued.

    `users` maps user ids to their profile (name, email) for those with digest items waiting.
    """
    queued = 0
    async with db.write_transaction() as session:
        for user_id, user in users.items():
            chosen = await session.get(NotificationSettings, user_id)
            period = DIGEST_PERIODS.get(chosen.email_digest if chosen else "off")
            items = list((await session.execute(
                select(Notification).where(Notification.user_id == user_id, Notification.email_status == "digest")
                .order_by(Notification.id).limit(DIGEST_MAX_ITEMS)
            )).scalars())
            if not items:
                continue
            # a period after the last digest, or (first digest) after the oldest item waiting
            since = (chosen.last_digest_at if chosen else None) or items[0].created_at
            if period is not None and now - since < period:
                continue
            urls = links(settings, user_id, "all")
            subject = f"Orbitask: {len(items)} notification{'s' if len(items) != 1 else ''}"
            text, html = render("digest", subject, name=user.name, items=items, **urls)
            queue(session, key=f"digest:{user_id}:{items[0].id}", to=formataddr((user.name, user.email)),
                  subject=subject, text=text, html=html, user_id=user_id, unsubscribe_url=urls["unsubscribe_url"])
            await session.execute(update(Notification).where(Notification.id.in_([n.id for n in items]))
                                  .values(email_status="sent"))
            if chosen is not None:
                chosen.last_digest_at = now
            queued += 1
    return queued


async def digest_candidates(db: Database) -> list[uuid.UUID]:
    """Users with notifications waiting for their digest."""
    async with db.read_session(on_writer=True) as session:
        rows = await session.execute(
            select(Notification.user_id).where(Notification.email_status == "digest").distinct().limit(DIGEST_BATCH)
        )
        return list(rows.scalars())
