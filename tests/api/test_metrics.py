"""Prometheus /metrics: latency by route template, database pools, replica lag."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Api


async def test_metrics_show_routes_pools_and_replica_lag(api: Api, client: httpx.AsyncClient, app: Any) -> None:
    alice = await api.user("Alice")
    board = await api.board(alice)
    await api.ok(alice, "GET", f"/boards/{board['id']}")
    text = (await client.get("/metrics")).text
    assert 'orbitask_http_request_seconds_count{method="GET",route="/boards/{board_id}",status="200"}' in text
    assert board["id"] not in text  # templates, never raw paths
    assert 'orbitask_db_pool_connections{engine="writer",state="checkedout"}' in text
    assert 'orbitask_db_pool_connections{engine="reader",state="size"}' in text
    if app.state.runtime.db.reader is not app.state.runtime.db.writer:
        assert "orbitask_replica_lag_events 0.0" in text  # one database behind both engines: never behind


async def test_committed_events_are_counted_by_type(api: Api) -> None:
    from prometheus_client import REGISTRY

    def created() -> float:
        return REGISTRY.get_sample_value("orbitask_events_emitted_total", {"type": "card.created"}) or 0.0

    alice = await api.user()
    board = await api.board(alice)
    lst = await api.list(alice, board["id"])
    before = created()
    await api.card(alice, lst["id"])
    await api.call(alice, "POST", f"/lists/{lst['id']}/cards", json={"title": ""}, expect=422)  # refused: not counted
    assert created() == before + 1
