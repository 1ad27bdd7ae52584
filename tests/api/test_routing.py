"""Routing: the services of most requests are tried first, without changing which route answers
or the order of the published schema."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi.routing import APIRoute
from starlette.routing import compile_path

from orbitask.app import API_PREFIX, MATCH_ORDER, _service_routers, create_app
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


def test_no_path_of_one_service_is_answered_by_another_s_route() -> None:
    """Services are included in MATCH_ORDER, not in the order they are listed: that is only safe
    while no request could match routes of two services."""
    by_service = {name: [(API_PREFIX + path, route) for router in routers for path, route in _routes(router)]
                  for name, routers in _service_routers().items()}
    assert set(by_service) <= set(MATCH_ORDER) and sum(len(routes) for routes in by_service.values()) > 50
    clashes = []
    for name, routes in by_service.items():
        for path, route in routes:
            example = _example(path)
            for other, other_routes in by_service.items():
                for other_path, other_route in other_routes:
                    if (other != name and route.methods & other_route.methods
                            and compile_path(other_path)[0].match(example)):
                        clashes.append(f"{sorted(route.methods)} {path} ({name}) vs {other_path} ({other})")
    assert not clashes


def test_cards_and_boards_are_tried_first_and_the_schema_keeps_the_services_order(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    included = [route for route in app.router.routes if hasattr(route, "original_router")]
    first = {path for path, _ in _routes(included[0].original_router)}
    assert "/cards/{card_id}" in first  # tasks: the card routes

    paths = list(app.openapi()["paths"])
    assert paths[:2] == [f"{API_PREFIX}/healthz", f"{API_PREFIX}/readyz"]
    assert (paths.index(f"{API_PREFIX}/auth/register") < paths.index(f"{API_PREFIX}/boards/{{board_id}}")
            < paths.index(f"{API_PREFIX}/cards/{{card_id}}"))
    assert f"{API_PREFIX}/cards/{{card_id}}" in paths and "/healthz" not in paths
