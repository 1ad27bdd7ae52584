"""Webhook delivery: SSRF-safe targets, HMAC signatures, retries with backoff, then dead-letter.

Signature: header `Orbitask-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`, the HMAC
keyed with the webhook's secret over `f"{t}.".encode() + body` (see docs/notifications.md
for a verification snippet). Redirects are never followed (a 3xx is a failed attempt),
and every address the host resolves to must be public unless an allowed network covers
it; the request then goes to the checked address itself, so a DNS answer that changes
between the check and the connect cannot point it elsewhere.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import ipaddress
import random
import socket
import time
import uuid

import httpx
import orjson
import structlog
from sqlalchemy import select, update

from orbitask.config import Settings
from orbitask.core.db import Database, utcnow
from orbitask.core.errors import InvalidInput
from orbitask.core.events import Event, EventRead
from orbitask.notifications.models import Webhook, WebhookDelivery

log = structlog.get_logger("orbitask.webhooks")

BATCH = 50
CONCURRENCY = 10
SIGNATURE_HEADER = "Orbitask-Signature"
USER_AGENT = "Orbitask-Webhooks/1"


class RefusedTarget(InvalidInput):
    """A webhook URL that points at this network instead of the internet."""

    type, title = "webhook-target-refused", "Webhook target refused"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, *, tolerance_s: int = 300, now: float | None = None) -> bool:
    """Whether `header` signs `body` with `secret`, within `tolerance_s` of now (what receivers do)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known prefix (RFC 6052): the IPv4 address is the last 32 bits
_SIIT = ipaddress.ip_network("::ffff:0:0:0/96")  # IPv4-translated (RFC 2765)
_COMPATIBLE = ipaddress.ip_network("::/96")  # IPv4-compatible ::a.b.c.d (deprecated by RFC 4291)
# Not public although `is_global` says so on this Python: a local-use NAT64 prefix (RFC 8215) may embed the
# IPv4 address at any of six offsets, so it cannot be checked and is refused as a whole.
_NOT_GLOBAL = (ipaddress.ip_network("64:ff9b:1::/48"),)


def embedded_ipv4(address: Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address stands for (mapped, SIIT, IPv4-compatible, NAT64, 6to4, Teredo)."""
    if isinstance(address, ipaddress.IPv4Address):
        return []
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)  # (server, client); the client is already de-obfuscated
    if address in _NAT64 or address in _SIIT or (address in _COMPATIBLE and int(address) > 1):  # not :: or ::1
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    return []


def _public(address: Address) -> bool:
    return address.is_global and not address.is_multicast and not any(address in n for n in _NOT_GLOBAL)


def refusal(address: Address, networks: list[str]) -> str | None:
    """Why a webhook may not go to `address` (the address, and the IPv4 addresses it embeds), or None."""
    allowed = [ipaddress.ip_network(n, strict=False) for n in networks]
    if any(address in n for n in allowed):
        return None
    if any(address in n for n in _NOT_GLOBAL):
        return f"{address} (local-use NAT64)"
    embedded = embedded_ipv4(address)
    refused = [str(a) for a in embedded if not _public(a) and not any(a in n for n in allowed)]
    if refused:
        return f"{address} (embeds {', '.join(refused)})"
    mapped = isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None
    # a mapped address is its IPv4 address (the socket connects to that); any other must be public itself too
    return None if mapped or _public(address) else str(address)


def _allowed(address: Address, networks: list[str]) -> bool:
    """Whether a webhook may go to `address`."""
    return refusal(address, networks) is None


async def resolve_target(url: str, allowed_networks: list[str]) -> tuple[httpx.URL, str]:
    """Check a webhook URL; returns it and the address to connect to, or raises RefusedTarget."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise RefusedTarget(f"url: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise RefusedTarget("url: use an http:// or https:// URL with a host name")
    if parsed.userinfo:
        raise RefusedTarget("url: credentials in the URL are not allowed; authenticate with the signature")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parsed.host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise RefusedTarget(f"url: cannot resolve host {parsed.host!r} ({exc.strerror or exc})") from None
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))
    refused = [r for r in (refusal(a, allowed_networks) for a in addresses) if r is not None]
    if not addresses or refused:
        raise RefusedTarget(
            f"url: {parsed.host} resolves to {', '.join(refused) or 'nothing'}, a private, loopback, link-local "
            "or reserved address; webhooks only go to public addresses (see ORBITASK_WEBHOOK_ALLOWED_NETWORKS)"
        )
    return parsed, str(addresses[0])


def body_of(event: Event) -> bytes:
    """The JSON a webhook receives for an event."""
    return orjson.dumps(EventRead.model_validate(event).model_dump(mode="json"))


async def post(client: httpx.AsyncClient, settings: Settings, hook: Webhook, delivery_id: uuid.UUID,
               event: Event) -> tuple[int | None, str | None]:
    """One attempt: (status code, error); error None means delivered."""
    try:
        url, address = await resolve_target(hook.url, settings.webhook_allowed_networks)
    except RefusedTarget as exc:
        return None, exc.detail[:500]
    body = body_of(event)
    host_header = url.host if url.port is None else f"{url.host}:{url.port}"
    target = url.copy_with(host=address)
    headers = {
        "Content-Type": "application/json", "User-Agent": USER_AGENT, "Host": host_header,
        "Orbitask-Event": event.type, "Orbitask-Event-Id": str(event.id), "Orbitask-Delivery": str(delivery_id),
        SIGNATURE_HEADER: sign(hook.secret, int(time.time()), body),
    }
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    try:
        response = await client.post(target, content=body, headers=headers, extensions=extensions)
    except httpx.TimeoutException:
        return None, f"no response within {settings.webhook_timeout_seconds:g} s"
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= response.status_code < 300:
        return response.status_code, None
    if 300 <= response.status_code < 400:
        return response.status_code, "redirects are not followed; point the webhook at the final URL"
    return response.status_code, f"HTTP {response.status_code}"


def next_delay(settings: Settings, attempts: int) -> float:
    """Seconds before attempt `attempts + 1`: exponential, capped, with jitter."""
    delay = min(settings.webhook_backoff_max_seconds, settings.webhook_backoff_seconds * 2 ** (attempts - 1))
    return delay * random.uniform(0.5, 1.0)


async def deliver_pending(db: Database, settings: Settings, client: httpx.AsyncClient) -> int:
    """Attempt the deliveries that are due, a few at a time; returns how many were attempted."""
    now = utcnow()
    async with db.read_session(on_writer=True) as session:
        rows = (await session.execute(
            select(WebhookDelivery, Webhook, Event)
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .join(Event, Event.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at).limit(BATCH)
        )).all()
    if not rows:
        return 0
    gate = asyncio.Semaphore(CONCURRENCY)

    async def attempt(delivery: WebhookDelivery, hook: Webhook, event: Event) -> None:
        async with gate:
            code, error = await post(client, settings, hook, delivery.id, event)
        attempts = delivery.attempts + 1
        values: dict[str, object] = {"attempts": attempts, "last_status_code": code, "last_error": error}
        if error is None:
            values.update(status="succeeded", delivered_at=utcnow())
        elif attempts >= settings.webhook_max_attempts:
            values.update(status="dead")
            log.warning("webhook_dead_letter", webhook=str(hook.id), delivery=str(delivery.id), error=error)
        else:
            values.update(next_attempt_at=utcnow() + dt.timedelta(seconds=next_delay(settings, attempts)))
        async with db.write_transaction() as session:
            await session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery.id).values(**values))

    await asyncio.gather(*(attempt(d, h, e) for d, h, e in rows))
    return len(rows)


def http_client(settings: Settings) -> httpx.AsyncClient:
    """The client webhooks go out with: no redirects, no proxies from the environment, short timeouts."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.webhook_timeout_seconds), follow_redirects=False, trust_env=False,
        limits=httpx.Limits(max_connections=CONCURRENCY * 2),
    )
