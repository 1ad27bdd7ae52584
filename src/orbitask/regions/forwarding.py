"""One-hop write forwarding: a write that reaches a non-writer region goes, whole, to the writer region.

DESIGN.md §2: a mutating request (POST/PUT/PATCH/DELETE under /api/) in a region that does not
hold the writer is sent as one HTTP request to the writer region's internal URL: one WAN
round trip, never statement-by-statement SQL. The hop is signed (HMAC-SHA256 over time,
nonce, origin region, client address, method and path, with a replay window), so the writer
trusts the client address it carries (rate limits, logs) and a forwarded request is never
forwarded again (loop prevention: a node that receives one while not the writer answers
503 `not-writer` and the origin re-reads the topology). Headers pass through unchanged —
Authorization, cookies, CSRF, Idempotency-Key, traceparent — and the writer's answer
(including X-Orbitask-Token) streams back as is.

Failures: the writer cannot be reached → re-read the topology; if another region now
writes, try it once (nothing was sent yet); else 503 `writer-unavailable` with Retry-After.
A failure after the request was sent answers the same 503, saying the write may have been
applied: a POST retried with its Idempotency-Key is applied at most once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator

import httpx
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orbitask.core.errors import unavailable
from orbitask.core.observability import FORWARD_LATENCY, FORWARD_RECEIVED, FORWARDED, WRITER_EPOCH
from orbitask.regions.topology import RegionMap

log = structlog.get_logger("orbitask.forwarding")

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SIGNATURE_HEADER = b"x-orbitask-forwarded"
FORWARDED_TO = b"x-orbitask-forwarded-to"
WINDOW_S = 30.0
NONCES = 100_000
BUFFER_LIMIT = 1 << 20  # bodies up to this size are buffered, so a failed connect can be retried
HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer",
    b"transfer-encoding", b"upgrade",
})
NOT_FORWARDED = HOP_BY_HOP | {b"host", b"content-length", SIGNATURE_HEADER}  # httpx sets host and length
LOCAL_PATHS = ("/api/v1/ws/tickets",)  # writes nothing to the database: served where it arrives


def forward_key(secret: str) -> bytes:
    """The hop's HMAC key, derived from a shared secret."""
    return hmac.new(secret.encode(), b"orbitask-forward-v1", hashlib.sha256).digest()


class HopSigner:
    """Signs and verifies the `X-Orbitask-Forwarded` header."""

    def __init__(self, key: bytes, *, window_s: float = WINDOW_S) -> None:
        self.key = key
        self.window_s = window_s
        self._nonces: OrderedDict[str, float] = OrderedDict()

    def _mac(self, ts: str, nonce: str, origin: str, client: str, method: str, target: str) -> str:
        message = "\n".join((ts, nonce, origin, client, method, target)).encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()

    def sign(self, origin: str, client: str, method: str, target: str, now: float | None = None) -> str:
        """The header value for one hop."""
        ts, nonce = str(int(now if now is not None else time.time())), secrets.token_hex(12)
        mac = self._mac(ts, nonce, origin, client, method, target)
        return f"v1;{ts};{nonce};{origin};{client};{mac}"

    def verify(self, value: str, method: str, target: str, now: float | None = None) -> tuple[str, str] | None:
        """(origin region, client address) when the header is genuine, fresh and not replayed; else None."""
        parts = value.split(";")
        if len(parts) != 6 or parts[0] != "v1" or not parts[1].isdigit():
            return None
        _, ts, nonce, origin, client, mac = parts
        now = now if now is not None else time.time()
        if abs(now - int(ts)) > self.window_s:
            return None
        if not hmac.compare_digest(mac, self._mac(ts, nonce, origin, client, method, target)):
            return None
        while self._nonces and next(iter(self._nonces.values())) < now - 2 * self.window_s:
            self._nonces.popitem(last=False)
        if nonce in self._nonces:
            return None
        self._nonces[nonce] = now
        if len(self._nonces) > NONCES:
            self._nonces.popitem(last=False)
        return origin, client


def _target(scope: Scope) -> str:
    query = scope.get("query_string", b"")
    return scope["path"] + ("?" + query.decode("latin-1") if query else "")


class ForwardingMiddleware:
    """Sends writes to the writer region; on the writer, accepts signed hops (just inside the request context)."""

    def __init__(self, app: ASGIApp, *, regions: RegionMap, signer: HopSigner, client: httpx.AsyncClient) -> None:
        self.app = app
        self.regions = regions
        self.signer = signer
        self.client = client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in MUTATING or not scope["path"].startswith("/api/") \
                or scope["path"] in LOCAL_PATHS or not self.regions.multi_region:
            await self.app(scope, receive, send)
            return
        hop = next((v for k, v in scope["headers"] if k == SIGNATURE_HEADER), None)
        if hop is not None:
            verified = self.signer.verify(hop.decode("latin-1"), scope["method"], _target(scope))
            if verified is not None:
                await self._arrived(scope, receive, send, *verified)
                return
            log.warning("forward_signature_rejected", path=scope["path"])  # treated as a client's own request
        if self.regions.is_writer:
            await self.app(scope, receive, send)
            return
        await self._forward(scope, receive, send)

    async def _arrived(self, scope: Scope, receive: Receive, send: Send, origin: str, client: str) -> None:
        """A hop from another region: run it here if this region writes, never pass it on."""
        if not self.regions.is_writer:
            await self.regions.refresh()
        if not self.regions.is_writer:
            await unavailable(
                f"This region ({self.regions.local}) does not hold the writer; {self.regions.writer.region} does.",
                type_="not-writer", title="Not the writer region",
            )(scope, receive, send)
            return
        FORWARD_RECEIVED.labels(origin).inc()
        scope = {**scope, "client": (client, 0),
                 "headers": [(k, v) for k, v in scope["headers"] if k != SIGNATURE_HEADER]}
        await self.app(scope, receive, send)

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, stream = await _body(receive)
        client = scope.get("client") or ("", 0)
        for attempt in range(2):
            base = self.regions.writer_url()
            target_region = self.regions.writer.region
            if base is None:  # the writer moved here meanwhile, or is not configured
                if self.regions.is_writer:
                    await self.app(scope, _replay(body, stream), send)
                    return
                await _unavailable(scope, receive, send, f"Region {target_region} is unknown here.")
                return
            target = _target(scope)
            headers = [(k, v) for k, v in scope["headers"] if k not in NOT_FORWARDED]
            headers.append((SIGNATURE_HEADER, self.signer.sign(
                self.regions.local, str(client[0]), scope["method"], target).encode()))
            started = time.perf_counter()
            request = self.client.build_request(
                scope["method"], base + target, headers=headers,
                content=body if stream is None else _chain(body, stream),
            )
            try:
                response = await self.client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                FORWARDED.labels(target_region, "unreachable").inc()
                log.warning("forward_unreachable", target=target_region, error=type(exc).__name__)
                if attempt == 0 and stream is None and await self._writer_moved(target_region):
                    continue
                await _unavailable(scope, receive, send,
                                   f"The writer region {target_region} cannot be reached; nothing was applied.")
                return
            except httpx.HTTPError as exc:
                FORWARDED.labels(target_region, "failed").inc()
                log.warning("forward_failed", target=target_region, error=type(exc).__name__)
                await self.regions.refresh()
                await _unavailable(scope, receive, send,
                                   f"The writer region {target_region} did not answer; the write may have been "
                                   "applied. Retry with the same Idempotency-Key to apply it at most once.")
                return
            if response.status_code == 503 and response.headers.get("content-type", "").startswith(
                    "application/problem+json") and b"/not-writer" in await response.aread():
                FORWARDED.labels(target_region, "not_writer").inc()
                if attempt == 0 and stream is None and await self._writer_moved(target_region):
                    continue
                await _unavailable(scope, receive, send,
                                   "The writer region is changing (failover); nothing was applied.")
                return
            FORWARDED.labels(target_region, "ok").inc()
            await _relay(response, send, target_region)
            FORWARD_LATENCY.labels(target_region).observe(time.perf_counter() - started)
            return

    async def _writer_moved(self, was: str) -> bool:
        try:
            view = await self.regions.refresh()
        except Exception:  # the local replica is down too: keep the last view
            return False
        WRITER_EPOCH.set(view.epoch)
        return view.region != was



async def _unavailable(scope: Scope, receive: Receive, send: Send, detail: str) -> None:
    await unavailable(detail, type_="writer-unavailable", title="Writer region unavailable")(scope, receive, send)


async def _body(receive: Receive) -> tuple[bytes, Receive | None]:
    """The request body when it is small (buffered, so a retry can resend it), else its head and the rest's stream."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), None
        if size > BUFFER_LIMIT:
            return b"".join(chunks), receive


async def _chain(head: bytes, receive: Receive) -> AsyncIterator[bytes]:
    yield head
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


def _replay(body: bytes, stream: Receive | None) -> Receive:
    """A receive that yields the buffered body again (then the rest of the stream, if any)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": stream is not None}
        if stream is not None:
            return await stream()
        return {"type": "http.disconnect"}

    return receive


async def _relay(response: httpx.Response, send: Send, region: str) -> None:
    """Stream the writer's answer back as it came (raw bytes, so its encoding and length still hold)."""
    consumed = response.is_stream_consumed  # read already, to look for `not-writer`: send the decoded body
    skip = HOP_BY_HOP | ({b"content-encoding", b"content-length"} if consumed else set())
    headers = [(k.lower(), v) for k, v in response.headers.raw if k.lower() not in skip]
    headers.append((FORWARDED_TO, region.encode()))
    try:
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        if consumed:
            await send({"type": "http.response.body", "body": response.content, "more_body": False})
            return
        async for chunk in response.aiter_raw():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        await response.aclose()
