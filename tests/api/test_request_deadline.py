"""A request that will not end: past its deadline it answers 503, and the log says where it was waiting."""

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


async def waits_for_a_slow_dependency(scope: Scope, receive: Receive, send: Send) -> None:
    """Waits forever, but gives way to the deadline's cancel at once."""
    await a_slow_dependency()


async def a_slow_dependency() -> None:
    await asyncio.Event().wait()


async def timed_out(app_: object, capfd: pytest.CaptureFixture[str]) -> dict[str, object]:
    """Send one request to an app that will not answer in 0.2 s; its request_timeout log line."""
    configure_logging("INFO", json=True)
    app = RequestContextMiddleware(app_, region="local", max_body=1024, timeout=0.2)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        r = await asyncio.wait_for(client.get("/api/v1/anything"), 30)
    assert r.status_code == 503 and r.json()["type"].endswith("/timeout")
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    return next(line for line in lines if line["event"] == "request_timeout")


async def test_a_request_stuck_past_its_deadline_answers_503_and_logs_where(capfd: pytest.CaptureFixture[str]) -> None:
    timeout = await timed_out(stuck_in_cleanup, capfd)
    assert timeout["cleanup_interrupted"] is True
    assert any("stuck_in_cleanup" in frame for frame in timeout["waiting_at"]), timeout  # type: ignore[attr-defined]
    assert any("holds_on_through_the_cancel" in frame for frame in timeout["stuck_at"]), timeout  # type: ignore[attr-defined]


async def test_a_request_that_gives_way_at_its_deadline_logs_where_it_was_waiting(
    capfd: pytest.CaptureFixture[str],
) -> None:
    timeout = await timed_out(waits_for_a_slow_dependency, capfd)
    assert timeout["cleanup_interrupted"] is False and timeout["stuck_at"] is None
    waiting_at = timeout["waiting_at"]
    assert isinstance(waiting_at, list), timeout
    assert waiting_at[-2].endswith(" a_slow_dependency") and waiting_at[-1].endswith(" wait"), waiting_at
