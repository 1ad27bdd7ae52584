"""Security headers on every HTTP response (a response's own value wins)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The API answers JSON: nothing in it may load anything or be framed. HTML pages (the web
# app, the API docs page served from its build, the unsubscribe page) set their own policy.
API_CSP = b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
HSTS = b"max-age=31536000; includeSubDomains"
# API answers carry tokens (sign-in, API tokens, invitation links, calendar URLs, webhook secrets) or private
# data: no browser or proxy cache may keep them (a shared computer, a TLS-terminating proxy). A route that
# means to be cached says so itself (the board snapshot: private, revalidated; the calendar feed; attachments).
NO_STORE_PREFIX = "/api/v1/"
NO_STORE = (b"cache-control", b"no-store")

BASE_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)


class SecurityHeadersMiddleware:
    """nosniff, no framing, a referrer policy, a CSP and no-store for API answers, and HSTS behind TLS."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = [*BASE_HEADERS, (b"content-security-policy", API_CSP)]
        if scope.get("scheme") == "https":
            extra.append((b"strict-transport-security", HSTS))
        if scope["path"].startswith(NO_STORE_PREFIX):
            extra.append(NO_STORE)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in extra if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
