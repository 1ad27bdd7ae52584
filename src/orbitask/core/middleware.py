"""Request context: request id, consistency tokens in and out, body size limit, deadline, metrics."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orbitask.core import context
from orbitask.core.errors import PayloadTooLarge, is_unavailable, problem, request_timed_out, unavailable
from orbitask.core.observability import REQUEST_LATENCY
from orbitask.core.ratelimit import client_ip
from orbitask.core.schemas import NUL_REFUSED
from orbitask.core.tokens import HEADER as TOKEN_HEADER
from orbitask.core.tokens import ConsistencyToken

_TOKEN = TOKEN_HEADER.lower().encode()
# After the deadline cancels a request, how long its cleanup (rollback, closing connections) may take
# before it is interrupted too. psycopg, cancelled mid-query, asks the server to cancel the query and
# waits up to 5 + 5 s for that; a second cancel makes it drop the connection at once instead.
CLEANUP_GRACE_S = 1.0
_REQUEST_ID = b"x-request-id"
NOT_UTF8 = "must be valid UTF-8 (it has percent-encoded bytes that are not, such as an unpaired surrogate)"

log = structlog.get_logger("orbitask.http")


@dataclass(frozen=True, slots=True)
class LargeTransfers:
    """Paths that move files: their own body limit and deadline."""

    paths: re.Pattern[str]
    max_body: int
    timeout: float


class RequestContextMiddleware:
    """Outermost middleware: sets up per-request state, adds the response headers, bounds the request's time.

    It also turns a database outage raised by the middlewares inside it (the idempotency
    lookup runs before the app's own exception handlers) into a 503 instead of a 500.
    """

    def __init__(
        self, app: ASGIApp, *, region: str, max_body: int, timeout: float = 30.0,
        large: Sequence[LargeTransfers] = (), max_header_bytes: int = 16 * 1024,
    ) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes
        self.region = region
        self.max_body = max_body
        self.timeout = timeout
        # paths that move files (attachments, imports) stream them to disk: their own limit and deadline
        self.large = tuple(large)

    def _limits(self, path: str) -> tuple[int, float]:
        for transfer in self.large:
            if transfer.paths.match(path):
                return transfer.max_body, transfer.timeout
        return self.max_body, self.timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        max_body, timeout = self._limits(scope["path"])
        state, reset = context.begin()
        request_id = uuid.uuid4().hex
        length = None
        header_bytes = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        for key, value in scope["headers"]:
            header_bytes += len(key) + len(value) + 4
            if key == _TOKEN:
                state.read_token = ConsistencyToken.decode(value.decode("latin-1"))
            elif key == _REQUEST_ID and 0 < len(value) <= 64 and value.isascii():
                request_id = value.decode("latin-1")
            elif key == b"content-length":
                length = value
        structlog.contextvars.bind_contextvars(request_id=request_id, region=self.region)
        state.extra.update(request_id=request_id, region=self.region, client_ip=client_ip(scope))
        status = 500
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                if state.write_token is not None and not any(k == _TOKEN for k, _ in headers):
                    headers.append((_TOKEN, state.write_token.encode().encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            if header_bytes > self.max_header_bytes:  # the server may not bound them (httptools does not)
                await problem(
                    431, "headers-too-large", "Request header fields too large",
                    f"The request line and headers exceed {self.max_header_bytes} bytes.",
                )(scope, receive, send_with_headers)
                return
            refused = _unstorable_url(scope)
            if refused is not None:  # bodies refuse such text (core/schemas.Input): the URL does the same
                field, why = refused
                await problem(
                    422, "invalid-input", "Invalid input", f"{field}: {why}",
                    errors=[{"field": field, "message": why, "code": "value_error"}],
                )(scope, receive, send_with_headers)
                return
            if length is not None and (not length.isdigit() or int(length) > max_body):
                await problem(
                    413, "payload-too-large", "Request body too large",
                    f"The request body exceeds {max_body} bytes.",
                )(scope, receive, send_with_headers)
                return
            # One timer per request, at the deadline: it notes where the request waits, then expires the
            # deadline (which cancels the request as asyncio.timeout would) and gives its cleanup a grace.
            deadline = asyncio.timeout(None)
            task = asyncio.current_task()
            loop = asyncio.get_running_loop()
            forced = False
            waiting_at: list[str] = []  # where the request waited when its time was up
            stuck_at: list[str] = []  # where its cleanup still was after the grace

            def force_cancel() -> None:  # the request's cleanup outlived the grace: interrupt it as well
                nonlocal forced
                if task is not None:
                    forced = True
                    stuck_at[:] = where_suspended(task)  # what did not give way to the first cancel
                    task.cancel()

            def time_is_up() -> None:
                nonlocal hard_stop
                if task is not None:
                    waiting_at[:] = where_suspended(task)
                deadline.reschedule(loop.time())
                hard_stop = loop.call_later(CLEANUP_GRACE_S, force_cancel)

            hard_stop = loop.call_later(timeout, time_is_up)
            try:
                try:
                    async with deadline:
                        await self.app(scope, _limited(receive, max_body), send_with_headers)
                finally:
                    hard_stop.cancel()
                    if forced and task is not None:
                        task.uncancel()  # our own second cancel: asyncio.timeout leaves it to us to absorb
            except asyncio.CancelledError:
                if not forced:
                    raise
                await self._timed_out(scope, receive, send_with_headers, response_started, timeout, forced=True,
                                      waiting_at=waiting_at, stuck_at=stuck_at)
            except Exception as exc:
                if isinstance(exc, TimeoutError) and deadline.expired():
                    await self._timed_out(scope, receive, send_with_headers, response_started, timeout, forced=False,
                                          waiting_at=waiting_at)
                    return
                if response_started or not is_unavailable(exc):
                    raise
                orig = getattr(exc, "orig", None) or exc
                log.error("database_unavailable", error_type=type(orig).__name__, error=str(orig)[:200])
                await unavailable()(scope, receive, send_with_headers)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            elapsed = time.perf_counter() - started
            REQUEST_LATENCY.labels(scope["method"], template, str(status)).observe(elapsed)
            if status >= 500:
                log.warning("request_failed", method=scope["method"], route=template, status=status)
            else:  # the route template, never the raw path: some paths are credentials (invitations, feeds)
                log.info("request", method=scope["method"], route=template, status=status,
                         duration_ms=round(elapsed * 1000, 1))
            structlog.contextvars.clear_contextvars()
            context.end(reset)

    async def _timed_out(
        self, scope: Scope, receive: Receive, send: Send, started: bool, timeout: float, *, forced: bool,
        waiting_at: list[str], stuck_at: list[str] | None = None,
    ) -> None:
        route = getattr(scope.get("route"), "path", "unmatched")
        log.warning("request_timeout", method=scope["method"], route=route, timeout_s=timeout,
                    response_started=started, cleanup_interrupted=forced, waiting_at=waiting_at or None,
                    stuck_at=stuck_at or None)
        if not started:  # once the response has started it is too late for a status: cut it off
            await request_timed_out(timeout)(scope, receive, send)


def where_suspended(task: asyncio.Task[object], frames: int = 12) -> list[str]:
    """Where a task waits, its innermost `frames` awaits last (file:line function): for the log line of a request
    that would not end. (Task.get_stack shows only the outermost coroutine of a suspended task.)"""
    out: list[str] = []
    coro: Any = task.get_coro()
    while coro is not None and len(out) < 200:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            break
        out.append(f"{frame.f_code.co_filename.rsplit('/', 2)[-1]}:{frame.f_lineno} {frame.f_code.co_name}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return out[-frames:]


def _unstorable(raw: bytes) -> str | None:
    """Why a percent-encoded part of the URL is not text a database stores faithfully, or None."""
    data = unquote_to_bytes(raw) if b"%" in raw else raw
    if b"\x00" in data:
        return NUL_REFUSED
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return NOT_UTF8
    return None


def _unstorable_url(scope: Scope) -> tuple[str, str] | None:
    """The part of the URL (`path`, `query.<name>`, `query`) that holds NUL or is not UTF-8, and why."""
    raw_path = scope.get("raw_path")
    if raw_path is not None:
        path = raw_path.split(b"?", 1)[0]  # httpx's ASGI transport puts the query string in raw_path too
    else:  # only the decoded path: escape its "%" so that nothing is decoded twice
        path = scope["path"].encode("utf-8", "surrogatepass").replace(b"%", b"%25")
    why = _unstorable(path)
    if why is not None:
        return "path", why
    query: bytes = scope.get("query_string") or b""
    if not query or _unstorable(query) is None:
        return None
    for pair in query.split(b"&"):  # name the parameter
        name, _, value = pair.partition(b"=")
        why = _unstorable(name)
        if why is not None:
            return "query", why
        why = _unstorable(value)
        if why is not None:
            return "query." + unquote_to_bytes(name.replace(b"+", b" ")).decode(), why
    return None


def _limited(receive: Receive, limit: int) -> Receive:
    """A receive that refuses bodies larger than `limit` even without Content-Length."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise PayloadTooLarge(f"The request body exceeds {limit} bytes.")
        return message

    return wrapped
