"""Readiness is regional: a node is ready when its region can serve reads, and writes only in the writer region."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine


@pytest.mark.parametrize("backend", ["sqlite"])  # the rule is the backend's business nowhere
async def test_a_node_outside_the_writer_region_stays_ready_while_the_writer_is_unreachable(
    app: Any, client: httpx.AsyncClient, unused_tcp_port: int,
) -> None:
    rt = app.state.runtime
    reachable = rt.db.writer
    rt.db.writer = create_async_engine(f"postgresql+psycopg://nobody@127.0.0.1:{unused_tcp_port}/gone",
                                       connect_args={"connect_timeout": 2})
    try:
        rt.is_writer = lambda: False
        r = await client.get("/readyz")
        assert r.status_code == 200, r.text
        assert r.json()["checks"]["reader"] == "ok"

        rt.is_writer = lambda: True  # the same outage in the writer region: not ready
        r = await client.get("/readyz")
        assert r.status_code == 503, r.text
        assert r.json()["checks"]["writer"].startswith("error")
    finally:
        await rt.db.writer.dispose()
        rt.db.writer = reachable
