"""Routing: the route index (core/routing.py) picks the route FastAPI's router would pick."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from orbitask.app import API_PREFIX, create_app
from orbitask.core.routing import RouteIndex
from tests.conftest import make_settings


def _routes(router: Any, prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """(full path, route) of every path operation under `router`, through the routers it includes."""
    for route in router.routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        elif hasattr(route, "original_router"):  # an included router
            yield from _routes(route.original_router, prefix + route.include_context.prefix)


def _example(path: str) -> str:
    return re.sub(r"{[^}]+}", str(uuid.uuid4()), path)


async def test_the_route_index_hands_every_request_to_the_route_fastapi_would_pick(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index (core/routing.py) stands in for FastAPI's route lookup: for an example request of every
    route and method, and for requests no route answers, it selects the same route, with the same path
    parameters and the same FastAPI scope, as FastAPI's router does; and it answers the API's routes
    itself instead of passing everything on."""
    app = create_app(make_settings(tmp_path))
    index = app.router.middleware_stack
    assert isinstance(index, RouteIndex)
    selected: list[tuple[Any, ...]] = []

    async def record(route: APIRoute, scope: Any, receive: Any, send: Any) -> None:
        fastapi_scope = scope.get("fastapi", {})
        selected.append((route, scope["route"], scope["endpoint"], scope["path_params"],
                         id(fastapi_scope.get("effective_route_context")), id(fastapi_scope.get("included_router"))))

    monkeypatch.setattr(APIRoute, "handle", record)
    passed_on: list[str] = []
    fastapi_router = index.fallback

    async def fallback(scope: Any, receive: Any, send: Any) -> None:
        passed_on.append(scope["path"])
        await fastapi_router(scope, receive, send)

    monkeypatch.setattr(index, "fallback", fallback)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def route_and_status(router: Any, method: str, path: str) -> tuple[Any, ...]:
        sent: list[int] = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                sent.append(message["status"])

        selected.clear()
        scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "root_path": "",
                 "query_string": b"", "headers": [(b"host", b"testserver")], "scheme": "http",
                 "server": ("testserver", 80), "client": ("127.0.0.1", 1), "app": app}
        await router(scope, receive, send)
        return (*selected, *sent)

    api_routes = [(method, path) for path, route in _routes(app.router) if path.startswith(API_PREFIX)
                  for method in sorted(route.methods)]
    assert len(api_routes) > 60
    odd = [("GET", f"{API_PREFIX}/boards/not-a-uuid/nothing"), ("DELETE", f"{API_PREFIX}/workspaces"),
           ("GET", f"{API_PREFIX}/cards/"), ("PUT", f"{API_PREFIX}/healthz"), ("GET", "/healthz"),
           ("GET", "/metrics"), ("GET", "/api/openapi.json"), ("GET", f"{API_PREFIX}/nowhere")]
    for routes in (api_routes, odd):
        for method, template in routes:
            path = _example(template)
            assert await route_and_status(index, method, path) == await route_and_status(fastapi_router, method, path), (
                method, template)
        if routes is api_routes:
            assert passed_on == []  # the index found every API route itself


@pytest.mark.parametrize("literal_first", [True, False])
async def test_the_route_index_keeps_fastapi_s_order_and_leaves_mounts_and_misses_to_fastapi(
    literal_first: bool,
) -> None:
    from fastapi import APIRouter, FastAPI
    from starlette.responses import PlainTextResponse

    from orbitask.core import routing

    router = APIRouter()

    def special() -> str:
        return "literal"

    def one(thing_id: str) -> str:
        return f"param {thing_id}"

    for path, endpoint in ([("/things/special", special), ("/things/{thing_id}", one)][:: 1 if literal_first else -1]):
        router.get(path)(endpoint)
    app = FastAPI()
    app.include_router(router, prefix="/api/v1")
    app.mount("/", PlainTextResponse("web app"))
    routing.install(app.router, "/api/v1")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        assert (await client.get("/api/v1/things/special")).json() == ("literal" if literal_first else "param special")
        assert (await client.get("/api/v1/things/7")).json() == "param 7"
        # what FastAPI does: a route of the wrong method is only a partial match, the mount a full one
        assert (await client.post("/api/v1/things/7")).text == "web app"
        assert (await client.get("/api/v1/nothing")).text == "web app"
