"""Host headers: links never come from them, and production answers only the hosts it is published under."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.types import Message

from orbitask.app import create_app
from orbitask.config import Settings
from orbitask.core.hosts import allowed_hosts
from tests.conftest import TEST_SECRET, Api, assert_problem, make_settings

PUBLIC_URL = "https://orbitask.example"
OWN_REGION = {"name": "local", "public_url": "https://eu.orbitask.example", "internal_url": "http://api-eu.internal:8000"}
HEALTH = ["/healthz", "/readyz", "/api/v1/healthz", "/api/v1/readyz", "/metrics"]
ANSWER_TIMEOUT_S = 30  # bound on one raw ASGI exchange: it ends far sooner


async def test_an_invitation_link_names_the_public_url_whatever_host_the_request_names(api: Api, app: Any) -> None:
    olga = await api.user("Olga")
    public_url = app.state.runtime.settings.public_url
    inv = await api.ok(olga, "POST", f"/workspaces/{olga.workspace_id}/invitations", json={"role": "member"},
                       headers={"Host": "evil.example"})
    assert inv["url"] == f"{public_url}/invite/{inv['token']}", inv["url"]


def test_links_default_to_where_serve_listens_in_development_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORBITASK_PUBLIC_URL", raising=False)
    assert Settings(env="development", port=9123).public_url == "http://127.0.0.1:9123"
    assert Settings(env="development", host="0.0.0.0", port=9124).public_url == "http://127.0.0.1:9124"
    assert Settings(env="development", host="::", port=9125).public_url == "http://[::1]:9125"
    assert Settings(env="development", host="10.1.2.3", port=9126).public_url == "http://10.1.2.3:9126"
    # set, it wins; in production and tests the port says nothing about where people reach the server
    assert Settings(env="development", port=9123, public_url="https://tasks.example/").public_url == \
        "https://tasks.example"
    assert Settings(env="test", port=9123).public_url == "http://127.0.0.1:8000"
    prod = {"env": "production", "secret_key": TEST_SECRET, "database_url": "sqlite+aiosqlite:///x.db"}
    assert Settings(**prod, port=9123).public_url == "http://127.0.0.1:8000"
    # the region's own entry in ORBITASK_REGIONS says where its clients reach it
    assert Settings(**prod, regions=[OWN_REGION]).public_url == "https://eu.orbitask.example"
    monkeypatch.setenv("ORBITASK_PUBLIC_URL", PUBLIC_URL)
    assert Settings(**prod, regions=[OWN_REGION]).public_url == PUBLIC_URL
    assert Settings(env="development", port=9123).public_url == PUBLIC_URL


def test_allowed_hosts_are_the_public_the_regions_and_the_listed_ones() -> None:
    settings = Settings(
        public_url=PUBLIC_URL, allowed_hosts="*.cdn.example, Files.Example, ::1",
        regions=[OWN_REGION, {"name": "us", "public_url": "", "internal_url": "http://10.1.2.3:8000"}],
    )
    assert allowed_hosts(settings) == sorted(["orbitask.example", "eu.orbitask.example", "api-eu.internal",
                                              "10.1.2.3", "*.cdn.example", "files.example", "[::1]"])
    assert Settings(allowed_hosts='["a.example", "b.example"]').allowed_hosts == ["a.example", "b.example"]
    for wrong in ("a.example:8080", "https://a.example", "a.example/path", "a*.example", "*example.com"):
        with pytest.raises(ValueError, match="allowed_hosts"):
            Settings(allowed_hosts=wrong)


@pytest.fixture
async def production(settings: Settings) -> AsyncIterator[Any]:
    """The app as deployed: ORBITASK_ENV=production, a public URL, its region's URLs and two listed hosts."""
    prod = make_settings(settings.data_dir, env="production", database_url=settings.writer_url,
                         public_url=PUBLIC_URL, regions=[OWN_REGION], allowed_hosts=["*.cdn.example", "[::1]"])
    application = create_app(prod)
    async with LifespanManager(application):
        yield application


def client_for(app: Any, host: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}")


@pytest.mark.parametrize("host", ["orbitask.example", "ORBITASK.example:443", "eu.orbitask.example",
                                  "api-eu.internal:8000", "files.cdn.example", "[::1]:8000"])
async def test_production_answers_its_own_hosts(production: Any, host: str) -> None:
    async with client_for(production, host) as client:
        assert_problem(await client.get("/api/v1/me"), 401, "unauthorized")  # past the host check


async def test_production_serves_users_at_its_public_url(production: Any) -> None:
    async with client_for(production, "orbitask.example") as client:
        api = Api(client)
        olga = await api.user("Olga")
        inv = await api.ok(olga, "POST", f"/workspaces/{olga.workspace_id}/invitations", json={"role": "member"})
        assert inv["url"] == f"{PUBLIC_URL}/invite/{inv['token']}"


@pytest.mark.parametrize("host", ["evil.example", "orbitask.example.evil.example", "10.0.0.7", "cdn.example"])
async def test_production_refuses_any_other_host_with_a_problem(production: Any, host: str) -> None:
    async with client_for(production, host) as client:
        for method, path in (("GET", "/api/v1/me"), ("POST", "/api/v1/auth/register"), ("GET", "/")):
            r = await client.request(method, path, json={"email": "a@example.com", "password": "x" * 20})
            body = assert_problem(r, 400, "unknown-host")
            assert host not in body["detail"]
            assert r.headers["x-content-type-options"] == "nosniff"  # still inside the security headers


async def test_production_health_checks_answer_load_balancers_probing_by_address(production: Any) -> None:
    async with client_for(production, "10.0.0.7") as client:
        for path in HEALTH:
            r = await client.get(path)
            assert r.status_code == 200, f"{path}: {r.status_code} {r.text}"
        assert_problem(await client.get("/api/v1/healthz/"), 400, "unknown-host")  # exact paths only


async def websocket_answer(app: Any, host: str) -> list[Message]:
    """What the app sends to a WebSocket handshake for `host` until it ends it (raw ASGI)."""
    scope = {
        "type": "websocket", "asgi": {"version": "3.0"}, "scheme": "ws", "path": "/api/v1/ws", "raw_path": b"/api/v1/ws",
        "root_path": "", "query_string": b"", "headers": [(b"host", host.encode())], "subprotocols": [],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80), "extensions": {"websocket.http.response": {}},
    }
    sent: list[Message] = []
    done = asyncio.Event()

    async def receive() -> Message:
        if not sent:
            return {"type": "websocket.connect"}
        await done.wait()
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] in ("websocket.close", "websocket.http.response.body") and not message.get("more_body"):
            done.set()

    async with asyncio.timeout(ANSWER_TIMEOUT_S):
        await app(scope, receive, send)
    return sent


async def test_production_refuses_a_websocket_for_another_host(production: Any) -> None:
    sent = await websocket_answer(production, "evil.example")
    assert sent[0]["type"] == "websocket.http.response.start" and sent[0]["status"] == 400, sent
    assert b"unknown-host" in b"".join(m.get("body", b"") for m in sent[1:])
    # its own host reaches the socket endpoint, which turns away a handshake without credentials itself
    sent = await websocket_answer(production, "orbitask.example")
    assert sent and not (sent[0]["type"] == "websocket.http.response.start" and sent[0]["status"] == 400), sent


async def test_development_answers_any_host(settings: Settings) -> None:
    dev = make_settings(settings.data_dir, env="development", database_url=settings.database_url)
    application = create_app(dev)
    async with LifespanManager(application), client_for(application, "evil.example") as client:
        assert_problem(await client.get("/api/v1/me"), 401, "unauthorized")
