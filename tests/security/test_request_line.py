"""Query and path parameters: integers within what the database stores, text without NUL or broken Unicode.

Either is refused with a 422 problem naming the parameter, before any work, never a 500.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orbitask.app import create_app
from tests.conftest import Api, assert_problem, make_settings

BIGINT_MAX = 2**63 - 1  # every backend's widest integer (SQLite's INTEGER too)


def _integer_schemas(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in schema.get("anyOf", [schema]) if s.get("type") == "integer"]


def test_every_integer_parameter_declares_a_database_sized_range(tmp_path: Path) -> None:
    """A parameter past BIGINT reaches the driver (SQLite raises OverflowError): each must declare its bounds."""
    spec = create_app(make_settings(tmp_path)).openapi()
    seen, unbounded = [], []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for param in operation.get("parameters", []):
                for schema in _integer_schemas(param["schema"]):
                    where = f"{method.upper()} {path} {param['in']}.{param['name']}"
                    seen.append(where)
                    low = schema.get("minimum", schema.get("exclusiveMinimum"))
                    high = schema.get("maximum", schema.get("exclusiveMaximum"))
                    if low is None or high is None or low < -BIGINT_MAX - 1 or high > BIGINT_MAX:
                        unbounded.append(f"{where}: {schema}")
    assert "GET /api/v1/boards/{board_id}/events query.after_version" in seen, seen
    assert not unbounded, "\n".join(unbounded)


async def test_after_version_past_bigint_is_a_422_problem(api: Api) -> None:
    owner = await api.user("Owner")
    board = await api.board(owner)
    for too_big in (BIGINT_MAX + 1, 99999999999999999999):
        r = await api.call(owner, "GET", f"/boards/{board['id']}/events?after_version={too_big}")
        body = assert_problem(r, 422, "invalid-input")
        assert body["errors"][0]["field"] == "query.after_version", body
    page = await api.ok(owner, "GET", f"/boards/{board['id']}/events?after_version={BIGINT_MAX}")
    assert page["items"] == [] and page["has_more"] is False


# (method, path with {board_id}, the field the problem names, what its detail says)
REFUSED = [
    ("GET", "/boards/{board_id}/cards?q=a%00b", "query.q", "NUL"),
    ("GET", "/boards/{board_id}/cards?q=lone%ED%A0%80surrogate", "query.q", "UTF-8"),  # U+D800 as UTF-8 bytes
    ("GET", "/boards/{board_id}/cards?q=latin1%E9", "query.q", "UTF-8"),
    ("GET", "/boards/{board_id}/cards?limit=5&q%00=x", "query", "NUL"),
    ("GET", "/boards/{board_id}/export?format=%00json", "query.format", "NUL"),
    ("POST", "/invitations/abc%00def/accept", "path", "NUL"),
    ("POST", "/invitations/abc%ED%B0%80def/accept", "path", "UTF-8"),  # U+DC00
    ("GET", "/boards/{board_id}%00", "path", "NUL"),
]


@pytest.mark.parametrize(("method", "template", "field", "says"), REFUSED)
async def test_nul_and_broken_unicode_in_the_url_are_a_422_problem(
    api: Api, method: str, template: str, field: str, says: str
) -> None:
    owner = await api.user("Owner")
    board = await api.board(owner)
    r = await api.call(owner, method, template.replace("{board_id}", board["id"]))
    body = assert_problem(r, 422, "invalid-input")
    assert body["errors"][0]["field"] == field and says in body["detail"], body
    assert body["detail"].startswith(field), body


async def test_text_that_is_valid_unicode_passes(api: Api) -> None:
    owner = await api.user("Owner")
    board = await api.board(owner)
    lst = await api.list(owner, board["id"])
    card = await api.card(owner, lst["id"], "prêt \U0001f680 \u200b ok")
    found = await api.ok(owner, "GET", f"/boards/{board['id']}/cards?q=pr%C3%AAt%20%F0%9F%9A%80")
    assert [c["id"] for c in found["items"]] == [card["id"]]
