"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives, for tests and benchmarks."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.servers import free_port


@dataclass
class Mailbox:
    """Messages the server accepted, parsed."""

    messages: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    fail_next: int = 0  # answer this many DATA commands with a temporary failure

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook
        with self.lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return "451 Try again later"
            message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        """Messages addressed to `address`."""
        with self.lock:
            return [m for m in self.messages if address in str(m["To"])]

    def wait_for(self, address: str, count: int = 1, timeout_s: float = 10.0) -> list[EmailMessage]:
        """Poll (bounded) until `count` messages reached `address`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.to(address)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"{len(self.to(address))} e-mails to {address} within {timeout_s} s, expected {count}")


@contextmanager
def smtp_server() -> Iterator[tuple[int, Mailbox]]:
    """Run an SMTP server on a free port of 127.0.0.1 until the block ends."""
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, box
    finally:
        controller.stop()
