"""OpenTelemetry: a request produces a server span named by its route, with database spans as children."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from orbitask.app import create_app
from tests.conftest import PASSWORD, make_settings


async def test_a_request_is_traced_with_its_route_and_database_work(
    tmp_path: Path, template_db: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(template_db, tmp_path / "orbitask.db")
    spans = InMemorySpanExporter()
    app = create_app(make_settings(tmp_path, log_json=True, log_level="INFO"), span_exporter=spans)
    async with LifespanManager(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            r = await client.post("/api/v1/auth/register", json={"email": "t@example.com", "password": PASSWORD,
                                                                 "name": "T"})
            auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
            ws = (await client.get("/api/v1/workspaces", headers=auth)).json()["items"][0]["id"]
            board = (await client.post(f"/api/v1/workspaces/{ws}/boards", json={"name": "B"}, headers=auth)).json()
            spans.clear()
            # a caller's trace is continued (W3C traceparent), as the writer region does for a forwarded write
            parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            r = await client.get(f"/api/v1/boards/{board['id']}", headers={**auth, "traceparent": parent})
            assert r.status_code == 200
    finished = spans.get_finished_spans()
    server = [s for s in finished if s.kind == SpanKind.SERVER]
    assert len(server) == 1, [s.name for s in finished]
    root = server[0]
    assert root.attributes["http.route"] == "/api/v1/boards/{board_id}"
    assert root.name == "GET /api/v1/boards/{board_id}"
    assert format(root.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert root.parent is not None and format(root.parent.span_id, "016x") == "b7ad6b7169203331"
    db = [s for s in finished if s.attributes and s.attributes.get("db.system") or "db.statement" in (s.attributes or {})]
    # the request's queries are children in its trace (the relay's background queries have their own)
    mine = [s for s in db if s.context.trace_id == root.context.trace_id]
    assert any(s.name.startswith("SELECT") for s in mine), [s.name for s in finished]
    assert all(s.parent is not None for s in mine)
    assert root.resource.attributes["service.name"] == "orbitask"

    out, err = capfd.readouterr()
    lines = [json.loads(line) for line in (out + err).splitlines() if line.startswith("{")]
    request_lines = [line for line in lines if line.get("event") == "request" and line.get("route", "").endswith(
        "/boards/{board_id}")]
    assert request_lines, [line for line in lines if line.get("event") == "request"][-3:]
    assert request_lines[-1]["trace_id"] == "0af7651916cd43dd8448eb211c80319c"


def test_no_tracing_without_an_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    app = create_app(make_settings(tmp_path))
    assert not hasattr(app.state, "tracer_provider")
