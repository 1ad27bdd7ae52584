"""Message bus Protocol: in-process for the embedded default, Redis pub/sub for servers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

import structlog

from orbitask.core.backoff import Backoff, Outage
from orbitask.core.observability import REDIS_FAILURES

log = structlog.get_logger("orbitask.bus")

Handler = Callable[[bytes], Awaitable[None]]
Hook = Callable[[], None]
RECONNECT_DELAY_S = 0.5  # after a lost subscription: the first wait, doubling (jittered) up to ...
RECONNECT_MAX_S = 5.0  # ... this, which bounds how late live updates resume after Redis is back


class Bus(Protocol):
    """Fan-out of messages on named channels to every process of the region."""

    async def publish(self, channel: str, message: bytes) -> bool:
        """Send a message to every listener of `channel` (best effort); False when the bus is unreachable."""
        ...

    async def listen(self, channel: str, handler: Handler, on_subscribed: Hook | None = None) -> None:
        """Call `handler` for every message on `channel` until cancelled.

        `on_subscribed` runs each time the subscription is (re)established: messages published
        while it was down are lost, and the listener may want to catch up from elsewhere.
        """
        ...

    @property
    def shared(self) -> bool:
        """Whether other processes see what this one publishes."""
        ...


class InProcessBus:
    """Listeners in this process only (the embedded default)."""

    shared = False

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}

    async def publish(self, channel: str, message: bytes) -> bool:
        """Hand the message to this process's listeners."""
        for handler in list(self._handlers.get(channel, ())):
            try:
                await handler(message)
            except Exception:  # one bad listener must not stop the others
                log.exception("bus_handler_failed", channel=channel)
        return True

    async def listen(self, channel: str, handler: Handler, on_subscribed: Hook | None = None) -> None:
        """Register until cancelled (an in-process subscription never drops)."""
        self._handlers.setdefault(channel, []).append(handler)
        if on_subscribed is not None:
            on_subscribed()
        try:
            await asyncio.Event().wait()
        finally:
            self._handlers[channel].remove(handler)


class RedisBus:
    """Redis pub/sub; a lost connection is retried and listeners resume when Redis returns."""

    shared = True

    def __init__(self, redis: object) -> None:
        self.redis = redis  # redis.asyncio.Redis

    async def publish(self, channel: str, message: bytes) -> bool:
        """Publish; a Redis outage is logged and answered False, never raised."""
        try:
            await self.redis.publish(channel, message)  # type: ignore[attr-defined]
            return True
        except Exception as exc:  # callers act on False (the relay retries and logs the outage once)
            REDIS_FAILURES.labels("publish").inc()
            log.debug("bus_publish_failed", channel=channel, error=type(exc).__name__)
            return False

    async def listen(self, channel: str, handler: Handler, on_subscribed: Hook | None = None) -> None:
        """Subscribe and dispatch; reconnect with a backoff after any failure, until cancelled."""
        outage = Outage(log, loop=f"bus-listener:{channel}", what="redis",
                        backoff=Backoff(min_s=RECONNECT_DELAY_S, max_s=RECONNECT_MAX_S))
        while True:
            pubsub = self.redis.pubsub()  # type: ignore[attr-defined]
            wait = RECONNECT_DELAY_S
            try:
                await pubsub.subscribe(channel)
                async for message in pubsub.listen():
                    if message.get("type") == "subscribe":  # confirmed: from here on nothing is missed
                        outage.ok()
                        log.debug("bus_subscribed", channel=channel)
                        if on_subscribed is not None:
                            on_subscribed()
                    elif message.get("type") == "message":
                        try:
                            await handler(message["data"])
                        except Exception:
                            log.exception("bus_handler_failed", channel=channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                wait = outage.failed(exc)
            finally:
                try:
                    await pubsub.aclose()
                except Exception:  # the connection is already gone
                    pass
            await asyncio.sleep(wait)
