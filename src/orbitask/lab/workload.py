"""The drill's clients: one per location through its entry point, like a user's browser would be.

Each client keeps the newest X-Orbitask-Token it received and sends it back on every request
(read-your-writes without sticky sessions). Sockets subscribe to a shared board and time each
event from its creation on the writer to its arrival in their location (one host, one clock).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

TOKEN = "X-Orbitask-Token"
PASSWORD = "drill-password-123"
TIMEOUT_S = 30.0
# A key whose command committed on a writer that crashed before storing the answer stays "in progress" on the
# new writer (core/idempotency.py) until RESPONSE_LOST_AFTER; a client that waited this long writes anew.
ABANDON_KEY_S = 2.0


def pct(values: list[float], q: float) -> float | None:
    """The q-th percentile (nearest rank) of `values`, None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


@dataclass
class Client:
    """One user in one location."""

    location: str
    http: httpx.AsyncClient
    headers: dict[str, str] = field(default_factory=dict)
    token: str | None = None
    user_id: str = ""
    workspace_id: str = ""

    async def call(self, method: str, path: str, **kw: Any) -> tuple[httpx.Response, float]:
        """One request with the newest token; returns the response and its latency in seconds."""
        headers = {**self.headers, **kw.pop("headers", {})}
        if self.token:
            headers[TOKEN] = self.token
        started = time.perf_counter()
        r = await self.http.request(method, "/api/v1" + path, headers=headers, **kw)
        elapsed = time.perf_counter() - started
        if TOKEN in r.headers and r.status_code < 300:
            self.token = r.headers[TOKEN]
        return r, elapsed

    async def ok(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        r, _ = await self.call(method, path, **kw)
        if r.status_code >= 300:
            raise RuntimeError(f"{self.location}: {method} {path} -> {r.status_code} {r.text[:300]}")
        return r.json() if r.content else {}

    def fork(self) -> Client:
        """Another tab of the same user (its own token chain, same connection pool)."""
        return Client(self.location, self.http, dict(self.headers), self.token, self.user_id, self.workspace_id)


async def sign_up(location: str, base_url: str) -> Client:
    """A new user signing up through the location's entry point."""
    http = httpx.AsyncClient(base_url=base_url, timeout=TIMEOUT_S,
                             limits=httpx.Limits(max_connections=64, max_keepalive_connections=64))
    client = Client(location, http)
    email = f"drill-{location}-{uuid.uuid4().hex[:8]}@example.com"
    body = await client.ok("POST", "/auth/register", json={"email": email, "password": PASSWORD, "name": location})
    client.headers = {"Authorization": f"Bearer {body['access_token']}"}
    client.user_id = body["user"]["id"]
    client.workspace_id = (await client.ok("GET", "/workspaces"))["items"][0]["id"]
    return client


async def board_with_list(client: Client, name: str) -> tuple[str, str]:
    """A board and one list in it; returns their ids."""
    board = await client.ok("POST", f"/workspaces/{client.workspace_id}/boards", json={"name": name})
    lst = await client.ok("POST", f"/boards/{board['id']}/lists", json={"name": "Drill"})
    return board["id"], lst["id"]


@dataclass
class Samples:
    """Latencies and counters of one location."""

    reads: list[float] = field(default_factory=list)
    writes: list[float] = field(default_factory=list)
    pairs: int = 0
    violations: int = 0
    errors: list[str] = field(default_factory=list)


async def ryw_worker(client: Client, list_id: str, pairs: int, samples: Samples) -> None:
    """Write then read back at once through the same entry point; a read that misses the write is a violation."""
    card_id = None
    for i in range(pairs):
        title = f"ryw {client.location} {i} {uuid.uuid4().hex[:6]}"
        if card_id is None or i % 2 == 0:
            r, took = await client.call("POST", f"/lists/{list_id}/cards", json={"title": title})
        else:
            r, took = await client.call("PATCH", f"/cards/{card_id}", json={"title": title})
        if r.status_code >= 300:
            samples.errors.append(f"write {r.status_code}: {r.text[:120]}")
            continue
        samples.writes.append(took)
        card_id = r.json()["id"]
        r, _ = await client.call("GET", f"/cards/{card_id}")
        samples.pairs += 1
        if r.status_code != 200 or r.json().get("title") != title:
            samples.violations += 1


async def read_worker(client: Client, board_id: str, card_ids: list[str], reads: int, samples: Samples, *,
                      start: int = 0) -> None:
    """Board snapshots and card reads in the local region (the token is already satisfied), alternating."""
    for i in range(start, start + reads):
        path = f"/boards/{board_id}" if i % 2 == 0 or not card_ids else f"/cards/{card_ids[i % len(card_ids)]}"
        r, took = await client.call("GET", path)
        if r.status_code == 200:
            samples.reads.append(took)
        else:
            samples.errors.append(f"read {r.status_code}")


@dataclass
class Listener:
    """A socket in one location subscribed to a board; records event delivery latencies."""

    location: str
    base_url: str
    ticket: str
    board_id: str
    latencies: list[float] = field(default_factory=list)
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        from websockets.asyncio.client import connect

        url = re.sub(r"^http", "ws", self.base_url) + f"/api/v1/ws?ticket={self.ticket}"
        async with connect(url, open_timeout=TIMEOUT_S, max_size=2**22) as ws:
            await ws.send(orjson.dumps({"type": "subscribe", "board_id": self.board_id}).decode())
            async for frame in ws:
                arrived = dt.datetime.now(dt.UTC)
                message = orjson.loads(frame)
                for item in message["messages"] if message.get("type") == "batch" else [message]:
                    if item.get("type") == "subscribed":
                        self.subscribed.set()
                    elif item.get("type") == "event" and item["event"]["type"].startswith("card."):
                        created = dt.datetime.fromisoformat(item["event"]["created_at"])
                        if created.tzinfo is None:
                            created = created.replace(tzinfo=dt.UTC)
                        self.latencies.append((arrived - created).total_seconds())
                    elif item.get("type") == "ping":
                        await ws.send('{"type":"pong"}')


@dataclass
class WriteLog:
    """A steady writer's outcomes: (card id, started, ended) when acknowledged, (started, ended, why) when not."""

    acked: list[tuple[str, float, float]] = field(default_factory=list)
    failed: list[tuple[float, float, str]] = field(default_factory=list)
    abandoned: int = 0  # keys given up while the writer still reported them in progress

    def recovered_after(self, moment: float) -> float:
        """Seconds from `moment` until writes succeeded again: the first acknowledged write started after the
        last failed one started (0 when none failed)."""
        failures = [started for started, _, _ in self.failed if started >= moment]
        if not failures:
            return 0.0
        last = max(failures)
        return min((ended for _, started, ended in self.acked if started > last), default=last) - moment

    def reasons(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for _, _, why in self.failed:
            out[why] = out.get(why, 0) + 1
        return out


def _problem(r: httpx.Response) -> str:
    """'503 writer-unavailable' for a problem+json answer, '503' for anything else (e.g. HAProxy's own page)."""
    if r.headers.get("content-type", "").startswith("application/problem+json"):
        return f"{r.status_code} {r.json().get('type', '').rsplit('/', 1)[-1]}"
    return str(r.status_code)


async def write_until(client: Client, list_id: str, stop: asyncio.Event, log: WriteLog) -> None:
    """Keep creating cards (each with its own Idempotency-Key, retried as is) until `stop`; log every outcome."""
    while not stop.is_set():
        key = uuid.uuid4().hex
        first = time.monotonic()
        while not stop.is_set():
            started = time.monotonic()
            try:
                r, _ = await client.call("POST", f"/lists/{list_id}/cards", json={"title": f"fo {key[:8]}"},
                                         headers={"Idempotency-Key": key})
                why = "" if r.status_code == 201 else _problem(r)
            except httpx.HTTPError as exc:
                r, why = None, type(exc).__name__
            if r is not None and r.status_code == 201:
                log.acked.append((r.json()["id"], started, time.monotonic()))
                break
            log.failed.append((started, time.monotonic(), why))
            if why.endswith("idempotency-response-lost"):
                break  # applied, but the answer died with the old writer: the user reloads, like a browser would
            if why.endswith("idempotency-in-progress") and time.monotonic() - first > ABANDON_KEY_S:
                log.abandoned += 1  # outcome unknown (it may have committed just before the crash): write anew
                break
            await asyncio.sleep(0.05)  # back off a little before retrying the same key


async def card_ids(client: Client, board_id: str) -> set[str]:
    """Every card of a board (paged)."""
    found: set[str] = set()
    cursor = None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = await client.ok("GET", f"/boards/{board_id}/cards", params=params)
        found.update(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return found


async def metric(url: str, name: str, labels: dict[str, str]) -> float:
    """A counter's value from a node's /metrics (0 when absent)."""
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(url + "/metrics")).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total
