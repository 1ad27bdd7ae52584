"""Every route x every kind of caller gets the answer the policy table says (SQLite only: this is policy).

The routes come from the app's route table, so a new route without an entry in authz_table.py fails here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIWebSocketRoute, iter_route_contexts

from orbitask.app import create_app
from tests.conftest import PROBLEM_BASE, make_settings
from tests.security.authz_table import OK, ROLES, TABLE, WEBSOCKETS, Entry
from tests.security.world import TRELLO_BYTES, World, build_world, fill


def app_routes(data_dir: Path) -> tuple[set[tuple[str, str]], set[str]]:
    """(method, path template) of every HTTP route the full app mounts, and its WebSocket paths."""
    app = create_app(make_settings(data_dir))
    http: set[tuple[str, str]] = set()
    sockets: set[str] = set()
    for route in iter_route_contexts(app.routes):  # flattens included routers, with their prefixes
        if isinstance(route.original_route, APIWebSocketRoute):
            sockets.add(str(route.path))
            continue
        for method in route.methods or ():
            if method != "HEAD":
                http.add((method, str(route.path)))
    return http, sockets


DOCS = {("GET", "/api/docs"), ("GET", "/api/openapi.json"), ("GET", "/docs/oauth2-redirect")}


def test_every_route_has_a_policy_entry(tmp_path: Path) -> None:
    http, sockets = app_routes(tmp_path)
    missing = sorted(http - set(TABLE) - DOCS)
    assert not missing, f"routes without an entry in tests/security/authz_table.py: {missing}"
    stale = sorted(set(TABLE) - http)
    assert not stale, f"entries in authz_table.py whose route is gone: {stale}"
    assert sockets == WEBSOCKETS
    for key, entry in TABLE.items():
        assert set(entry.expect) == set(ROLES), key


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("authz-world"))


def _request_kwargs(entry: Entry, world: World) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    if entry.json is not None:
        kw["json"] = fill(entry.json, world.ids)
    if entry.params:
        kw["params"] = fill(entry.params, world.ids)
    if entry.body == "trello":
        kw["content"] = TRELLO_BYTES
    elif entry.body == "orbitask":
        kw["content"] = world.orbitask_export
    elif entry.body == "file":
        kw["files"] = {"file": ("more.txt", b"more bytes\n", "text/plain")}
    return kw


def _path(template: str, entry: Entry, world: World) -> str:
    ids = {**world.ids, **{name: world.ids[key] for name, key in entry.path.items()}}
    return fill(template, ids)


def _matches(expected: Any, status: int) -> bool:
    return 200 <= status < 300 if expected == OK else status == expected


@pytest.mark.parametrize(("method", "template"), sorted(TABLE), ids=[f"{m} {p}" for m, p in sorted(TABLE)])
async def test_route_answers_each_caller_per_policy(world: World, tmp_path: Path, method: str, template: str) -> None:
    entry = TABLE[(method, template)]
    wrong: list[str] = []
    fresh = True
    served = None
    try:
        for role in ROLES:
            if fresh:  # the previous caller changed something: start again from the world as built
                if served is not None:
                    await served.__aexit__(None, None, None)
                served = world.served(tmp_path / f"data-{role}")  # a new directory: nothing left to remove
                _, client = await served.__aenter__()
            r = await client.request(method, _path(template, entry, world), headers=world.headers(role),
                                     **_request_kwargs(entry, world))
            expected = entry.expect[role]
            if not _matches(expected, r.status_code):
                wrong.append(f"{role}: expected {expected}, got {r.status_code} {r.text[:200]}")
            elif r.status_code >= 400:
                assert r.headers["content-type"].startswith("application/problem+json"), (role, r.text)
                assert r.json()["type"].startswith(PROBLEM_BASE)
                if r.status_code == 401:
                    assert r.headers["www-authenticate"].startswith("Bearer"), role
            fresh = method != "GET" and r.status_code < 300
    finally:
        if served is not None:
            await served.__aexit__(None, None, None)
    assert not wrong, f"{method} {template}:\n  " + "\n  ".join(wrong)
