"""Fixtures for the Notification service: a real SMTP server, settings that use it, and job drivers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orbitask.config import Settings
from orbitask.core.runtime import Runtime
from orbitask.notifications import delivery, email
from orbitask.notifications.jobs import digest_step, notifications_consumer, webhooks_consumer
from tests.mailserver import Mailbox
from tests.webhookreceiver import Receiver

PUBLIC_URL = "http://orbitask.test"


@pytest.fixture
def settings(settings: Settings, mail: Mailbox) -> Settings:
    """The API suite's settings, sending e-mail to the test SMTP server and webhooks to 127.0.0.1 quickly."""
    return settings.model_copy(update={
        "smtp_host": "127.0.0.1", "smtp_port": mail.port, "smtp_timeout_seconds": 5,  # type: ignore[attr-defined]
        "public_url": PUBLIC_URL, "webhook_allowed_networks": ["127.0.0.1/32"], "webhook_timeout_seconds": 0.5,
        "webhook_backoff_seconds": 0.01, "webhook_backoff_max_seconds": 0.05, "webhook_max_attempts": 3,
        "signup_verification": False,  # e-mail is on, but these tests sign people up at once (api.user)
    })


class Jobs:
    """Runs the background jobs on demand, as `orbitask worker` would, so tests need no timing."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        # a fresh database per test: start from the first event
        self.notifications = notifications_consumer(rt, start="beginning", gap_hold_s=0.05)
        self.webhooks = webhooks_consumer(rt, start="beginning", gap_hold_s=0.05)
        self.client = delivery.http_client(rt.settings)

    async def events(self) -> int:
        """Handle every event so far (notifications and webhook fan-out)."""
        return await self.notifications.drain() + await self.webhooks.drain()

    async def mail(self) -> None:
        """Send every e-mail that is due."""
        for _ in range(100):
            if not await email.send_pending(self.rt.db, self.rt.settings):
                return

    async def digests(self) -> None:
        """Queue the digests that are due and send them."""
        await digest_step(self.rt)
        await self.mail()

    async def deliver(self, until: Any, timeout_s: float = 15.0) -> None:
        """Attempt webhook deliveries (retries come due after their short backoff) until `until()` holds."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not await until():
            assert asyncio.get_running_loop().time() < deadline, "deliveries did not settle in time"
            if not await delivery.deliver_pending(self.rt.db, self.rt.settings, self.client):
                await asyncio.sleep(0.01)  # the next retry is due in a few milliseconds


@pytest.fixture
async def jobs(app: Any) -> Any:
    runner = Jobs(app.state.runtime)
    yield runner
    await runner.client.aclose()


@pytest.fixture
async def receiver() -> Any:
    """A real HTTP server on 127.0.0.1 receiving webhooks (script its answers through `.script` / `.hang`)."""
    server = await Receiver().start()
    yield server
    await server.stop()
