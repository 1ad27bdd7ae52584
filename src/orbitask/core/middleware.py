"""Request context: request id, consistency tokens in and out, body size limit, metrics."""

from __future__ import annotations

import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orbitask.core import context
from orbitask.core.errors import PayloadTooLarge, problem
from orbitask.core.observability import REQUEST_LATENCY
from orbitask.core.tokens import HEADER as TOKEN_HEADER
from orbitask.core.tokens import ConsistencyToken

_TOKEN = TOKEN_HEADER.lower().encode()
_REQUEST_ID = b"x-request-id"

log = structlog.get_logger("orbitask.http")


class RequestContextMiddleware:
    """Outermost middleware: sets up per-request state and adds the response headers."""

    def __init__(self, app: ASGIApp, *, region: str, max_body: int) -> None:
        self.app = app
        self.region = region
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state, reset = context.begin()
        request_id = uuid.uuid4().hex
        length = None
        for key, value in scope["headers"]:
            if key == _TOKEN:
                state.read_token = ConsistencyToken.decode(value.decode("latin-1"))
            elif key == _REQUEST_ID and 0 < len(value) <= 64 and value.isascii():
                request_id = value.decode("latin-1")
            elif key == b"content-length":
                length = value
        structlog.contextvars.bind_contextvars(request_id=request_id, region=self.region)
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                if state.write_token is not None and not any(k == _TOKEN for k, _ in headers):
                    headers.append((_TOKEN, state.write_token.encode().encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            if length is not None and (not length.isdigit() or int(length) > self.max_body):
                await problem(
                    413, "payload-too-large", "Request body too large",
                    f"The request body exceeds {self.max_body} bytes.",
                )(scope, receive, send_with_headers)
                return
            await self.app(scope, _limited(receive, self.max_body), send_with_headers)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            elapsed = time.perf_counter() - started
            REQUEST_LATENCY.labels(scope["method"], template, str(status)).observe(elapsed)
            if status >= 500:
                log.warning("request_failed", method=scope["method"], route=template, status=status)
            structlog.contextvars.clear_contextvars()
            context.end(reset)


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
