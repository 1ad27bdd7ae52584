"""A request that will not end: past its deadline it answers 503, and the log says where it was stuck."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from orbitask.core.middleware import RequestContextMiddleware
from orbitask.core.observability import configure_logging


async def stuck_in_cleanup(scope: Scope, receive: Receive, send: Send) -> None:
    """Waits forever, and its cleanup outlives the grace (as a call stuck in a thread would)."""
    try:
        await asyncio.Event().wait()
    finally:
        await holds_on_through_the_cancel()


async def holds_on_through_the_cancel() -> None:
    await asyncio.sleep(3600)  # runs after the deadline's cancel; the middleware's second cancel ends it


async def test_a_request_stuck_past_its_deadline_answers_503_and_logs_where(capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json=True)
    app = RequestContextMiddleware(stuck_in_cleanup, region="local", max_body=1024, timeout=0.2)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        r = await asyncio.wait_for(client.get("/api/v1/anything"), 30)
    assert r.status_code == 503 and r.json()["type"].endswith("/timeout")
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    timeout = next(line for line in lines if line["event"] == "request_timeout")
    assert timeout["cleanup_interrupted"] is True
    assert any("holds_on_through_the_cancel" in frame for frame in timeout["stuck_at"]), timeout
