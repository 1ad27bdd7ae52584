"""The Notification service's background jobs (run by `orbitask worker`, or inside `serve`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orbitask.auth import service as auth_service
from orbitask.core.consumers import EventConsumer
from orbitask.core.db import utcnow
from orbitask.core.jobs import Step, register_job
from orbitask.notifications import delivery, email, reminders, webhooks
from orbitask.notifications.consumer import HANDLED, NotificationConsumer

if TYPE_CHECKING:
    from orbitask.core.runtime import Runtime


def notifications_consumer(rt: Runtime, **options: Any) -> EventConsumer:
    """The consumer writing in-app notifications and queueing their e-mails."""
    return EventConsumer(rt.db, "notifications", NotificationConsumer(rt.settings), types=set(HANDLED), **options)


def webhooks_consumer(rt: Runtime, **options: Any) -> EventConsumer:
    """The consumer queueing webhook deliveries."""
    return EventConsumer(rt.db, "webhooks", webhooks.fan_out, workspaces=webhooks.hooked_workspaces, **options)


@register_job("notifications")
def _notifications(rt: Runtime) -> Step:
    return notifications_consumer(rt).step


@register_job("webhook-fanout")
def _webhook_fanout(rt: Runtime) -> Step:
    return webhooks_consumer(rt).step


@register_job("webhook-delivery")
def _webhook_delivery(rt: Runtime) -> Step:
    client = delivery.http_client(rt.settings)

    async def step() -> int:
        return await delivery.deliver_pending(rt.db, rt.settings, client)

    return step


@register_job("email")
def _email(rt: Runtime) -> Step | None:
    if rt.settings.smtp_host is None:
        return None

    async def step() -> int:
        return await email.send_pending(rt.db, rt.settings)

    return step


@register_job("email-digest", interval=lambda s: max(s.worker_poll_interval_seconds, 30.0))
def _email_digest(rt: Runtime) -> Step | None:
    if rt.settings.smtp_host is None:
        return None

    async def step() -> int:
        return await digest_step(rt)

    return step


async def digest_step(rt: Runtime) -> int:
    """Queue the digests that are due now."""
    waiting = await email.digest_candidates(rt.db)
    if not waiting:
        return 0
    async with rt.db.read_session(on_writer=True) as session:
        users = await auth_service.users_brief(session, waiting)
    await email.send_digests(rt.db, rt.settings, users, utcnow())
    return 0  # digests are periodic: wait the interval either way


@register_job("reminders", interval=lambda s: s.reminder_interval_seconds)
def _reminders(rt: Runtime) -> Step:
    async def step() -> int:
        await reminders.remind(rt.db, now=utcnow(), region=rt.settings.region)
        return 0  # one tick per interval

    return step
