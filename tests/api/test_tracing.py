"""OpenTelemetry: a request produces a server span named by its route, with database spans as children."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from orbitask.app import create_app
from tests.conftest import PASSWORD, make_settings
from tests.otlpreceiver import OtlpReceiver, ReceivedSpan

BOARD_ROUTE = "/api/v1/boards/{board_id}"


async def open_a_board(client: httpx.AsyncClient) -> tuple[dict[str, str], str]:
    """Register a user and create a board: (auth headers, board id)."""
    r = await client.post("/api/v1/auth/register", json={"email": "t@example.com", "password": PASSWORD, "name": "T"})
    auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
    ws = (await client.get("/api/v1/workspaces", headers=auth)).json()["items"][0]["id"]
    board = (await client.post(f"/api/v1/workspaces/{ws}/boards", json={"name": "B"}, headers=auth)).json()
    return auth, board["id"]


def request_log_lines(capfd: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The JSON `request` lines logged for the board route so far."""
    out, err = capfd.readouterr()
    lines = [json.loads(line) for line in (out + err).splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "request" and line.get("route", "").endswith(
        "/boards/{board_id}")]


async def test_a_request_is_traced_with_its_route_and_database_work(
    tmp_path: Path, template_db: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(template_db, tmp_path / "orbitask.db")
    spans = InMemorySpanExporter()
    app = create_app(make_settings(tmp_path, log_json=True, log_level="INFO"), span_exporter=spans)
    async with LifespanManager(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            auth, board_id = await open_a_board(client)
            spans.clear()
            # a caller's trace is continued (W3C traceparent), as the writer region does for a forwarded write
            parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            r = await client.get(f"/api/v1/boards/{board_id}", headers={**auth, "traceparent": parent})
            assert r.status_code == 200
    finished = spans.get_finished_spans()
    server = [s for s in finished if s.kind == SpanKind.SERVER]
    assert len(server) == 1, [s.name for s in finished]
    root = server[0]
    assert root.attributes["http.route"] == BOARD_ROUTE
    assert root.name == f"GET {BOARD_ROUTE}"
    assert format(root.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert root.parent is not None and format(root.parent.span_id, "016x") == "b7ad6b7169203331"
    db = [s for s in finished if s.attributes and s.attributes.get("db.system") or "db.statement" in (s.attributes or {})]
    # the request's queries are children in its trace (the relay's background queries have their own)
    mine = [s for s in db if s.context.trace_id == root.context.trace_id]
    assert any(s.name.startswith("SELECT") for s in mine), [s.name for s in finished]
    assert all(s.parent is not None for s in mine)
    assert root.resource.attributes["service.name"] == "orbitask"

    request_lines = request_log_lines(capfd)
    assert request_lines
    assert request_lines[-1]["trace_id"] == "0af7651916cd43dd8448eb211c80319c"


async def test_spans_reach_the_otlp_receiver_named_by_the_environment(
    tmp_path: Path, template_db: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(template_db, tmp_path / "orbitask.db")
    for name in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED", "OTEL_SERVICE_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")  # ms: batches leave at once instead of every 5 s

    def board_read(spans: list[ReceivedSpan]) -> bool:
        return any(s.kind == "SPAN_KIND_SERVER" and s.attributes.get("http.route") == BOARD_ROUTE for s in spans)

    with OtlpReceiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        app = create_app(make_settings(tmp_path, log_json=True, log_level="INFO"))  # no exporter given: the OTLP one
        try:
            async with LifespanManager(app):
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
                    auth, board_id = await open_a_board(client)
                    assert (await client.get(f"/api/v1/boards/{board_id}", headers=auth)).status_code == 200
                    # the batch processor posts on its own thread; a bounded wait for the request's span to arrive
                    await asyncio.to_thread(receiver.wait_for, board_read, timeout=30)
        finally:
            if hasattr(app.state, "tracer_provider"):  # what process exit does: the rest is sent, the thread ends
                app.state.tracer_provider.shutdown()
        spans = receiver.spans()

    root = next(s for s in spans if board_read([s]))
    assert root.name == f"GET {BOARD_ROUTE}" and root.parent_span_id == ""
    assert root.resource["service.name"] == "orbitask"
    trace = {s.span_id: s for s in spans if s.trace_id == root.trace_id}
    db = [s for s in trace.values() if any(key.startswith("db.") for key in s.attributes)]
    assert any(s.name.startswith("SELECT") for s in db), sorted(s.name for s in trace.values())
    for span in db:  # each database span descends from the request's span through spans that arrived too
        ancestor = span
        for _ in range(len(trace)):
            if ancestor is root or ancestor.parent_span_id not in trace:
                break
            ancestor = trace[ancestor.parent_span_id]
        assert ancestor is root, (span.name, span.parent_span_id)

    request_lines = request_log_lines(capfd)
    assert request_lines
    assert request_lines[-1]["trace_id"] == root.trace_id


def test_no_tracing_without_an_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    app = create_app(make_settings(tmp_path))
    assert not hasattr(app.state, "tracer_provider")
