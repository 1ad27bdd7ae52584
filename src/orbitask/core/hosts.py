"""Production answers only the host names it is published under (a forged Host header gets 400).

The names are public_url's, every region's public and internal URLs' (the internal one is the
Host a forwarded write arrives with, regions/forwarding.py) and ORBITASK_ALLOWED_HOSTS.
Starlette's TrustedHostMiddleware does the matching; this wrapper lets health checks and
metrics through for load balancers that probe by IP address, and answers a refusal with the
API's problem+json. Development and tests check nothing: people reach a laptop by any name.
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orbitask.config import Settings
from orbitask.core.errors import DomainError, render_problem

ADMITTED = "orbitask.host_admitted"


class UnknownHost(DomainError):
    status, type, title = 400, "unknown-host", "Unknown host"


def host_of(url: str) -> str | None:
    """The host name of `url` as a Host header carries it (an IPv6 address bracketed), lower case."""
    host = urlsplit(url).hostname
    if not host:
        return None
    return f"[{host}]" if ":" in host else host


def allowed_hosts(settings: Settings) -> list[str]:
    """Every host name this deployment answers to."""
    urls = [settings.public_url]
    for region in settings.regions:
        urls += [region.public_url, region.internal_url]
    names = {name for name in map(host_of, urls) if name}
    return sorted(names | set(settings.allowed_hosts))


class HostCheckMiddleware:
    """Refuse requests for a host not in `allowed` (problem+json 400), except on the `exempt` paths."""

    def __init__(self, app: ASGIApp, *, allowed: list[str], exempt: Collection[str]) -> None:
        self.app = app
        self.exempt = frozenset(exempt)
        self.check = TrustedHostMiddleware(self._admit, allowed_hosts=allowed, www_redirect=False)

    async def _admit(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[ADMITTED] = True
        await self.app(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return

        async def send_admitted(message: Message) -> None:
            if scope.get(ADMITTED):  # TrustedHostMiddleware's own plain-text refusal is replaced below
                await send(message)

        await self.check(scope, receive, send_admitted)
        if not scope.get(ADMITTED):
            refusal = UnknownHost("The Host header names no host this server answers for (ORBITASK_PUBLIC_URL, "
                                  "the regions' URLs, ORBITASK_ALLOWED_HOSTS).")
            await render_problem(refusal)(scope, receive, send)


def install_host_check(app: FastAPI, settings: Settings, *, exempt: Collection[str]) -> None:
    """In production, refuse requests whose Host header names none of this deployment's hosts."""
    if settings.env != "production":
        return
    app.add_middleware(HostCheckMiddleware, allowed=allowed_hosts(settings), exempt=exempt)
