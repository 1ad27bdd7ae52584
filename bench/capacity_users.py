"""Virtual users of bench/capacity.py: sign in once, keep a WebSocket on their board, run the weighted mix."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from capacity_mix import BoardModel, Mix, Window
from capacity_seed import PASSWORD, SeededBoard, SeededUser

API = "/api/v1"


@dataclass
class Shared:
    """What every virtual user reports into."""

    window: Window | None = None
    ws_frames: int = 0
    ws_events: int = 0
    ws_closed: dict[str, int] = field(default_factory=dict)
    resyncs: int = 0


class VirtualUser:
    """One signed-in user on one board: a WebSocket subscription and the weighted mix with think time."""

    def __init__(self, n: int, http: aiohttp.ClientSession, base: str, user: SeededUser, board: SeededBoard,
                 shared: Shared, mix: Mix, think: tuple[float, float]) -> None:
        self.n, self.http, self.base, self.user, self.board_id = n, http, base, user, board.id
        self.model = BoardModel(board.lists, board.items)
        self.shared, self.mix, self.think = shared, mix, think
        self.rng = random.Random(n)
        self.headers: dict[str, str] = {}
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.dirty = False  # a write failed: reload the board before trusting the model again
        self.created = 0

    async def request(self, op: str, method: str, path: str, body: Any = None) -> tuple[int | str, bytes]:
        """One measured request; the window it started in records it when it ends."""
        window = self.shared.window
        if window is not None:
            window.inflight += 1
        started = time.perf_counter()
        data = b""
        try:
            async with self.http.request(method, self.base + API + path, headers=self.headers,
                                         data=orjson.dumps(body) if body is not None else None) as r:
                data = await r.read()
                status: int | str = r.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            status = type(exc).__name__
        if window is not None:
            window.add(op, status, (time.perf_counter() - started) * 1000)
            window.inflight -= 1
        if op not in ("open_board", "open_card", "list_boards") and not (isinstance(status, int) and status < 400):
            self.dirty = True
        return status, data

    async def start(self) -> None:
        """Sign in, open the socket, subscribe to the board (not measured)."""
        async with self.http.post(self.base + API + "/auth/login",
                                  json={"email": self.user.email, "password": PASSWORD}) as r:
            if r.status != 200:
                raise RuntimeError(f"sign-in of {self.user.email} answered {r.status}: {await r.text()}")
            token = (await r.json())["access_token"]
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                        "Accept-Encoding": "gzip"}
        async with self.http.post(self.base + API + "/ws/tickets", headers=self.headers) as r:
            r.raise_for_status()
            url = (await r.json())["url"]
        self.ws = await self.http.ws_connect("ws" + self.base[4:] + url, autoping=True, max_msg_size=2**22)
        await self.ws.send_str(orjson.dumps({"type": "subscribe", "board_id": self.board_id}).decode())
        deadline = time.monotonic() + 30
        while True:
            msg = await self.ws.receive(timeout=max(0.1, deadline - time.monotonic()))
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"socket of user {self.n} closed before subscribing: {msg.type}")
            if '"type":"subscribed"' in msg.data or '"type":"resync"' in msg.data:
                break
            if '"type":"error"' in msg.data:
                raise RuntimeError(f"subscribe failed: {msg.data[:200]}")
        self.tasks = [asyncio.create_task(self.listen()), asyncio.create_task(self.run())]

    async def listen(self) -> None:
        """Drain the socket: count frames and events, answer the gateway's pings (no JSON parsing)."""
        assert self.ws is not None
        shared = self.shared
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            data = msg.data
            shared.ws_frames += 1
            shared.ws_events += data.count('"type":"event"')
            if '"type":"ping"' in data:
                await self.ws.send_str('{"type":"pong"}')
        reason = f"{self.ws.close_code}"
        shared.ws_closed[reason] = shared.ws_closed.get(reason, 0) + 1

    async def run(self) -> None:
        """The mix, forever (the step loop cancels it): think, pick, send."""
        lo, hi = self.think
        await asyncio.sleep(self.rng.uniform(0, hi))  # spread the first requests over one think time
        while True:
            if self.dirty:
                await self.resync()
            await getattr(self, self.mix.pick(self.rng))()
            await asyncio.sleep(self.rng.uniform(lo, hi))  # think time, part of the workload

    async def resync(self) -> None:
        """Reload the board after a failed write (a timed-out create may have made the card anyway)."""
        async with self.http.get(self.base + API + f"/boards/{self.board_id}", headers=self.headers) as r:
            if r.status != 200:
                return
            snapshot = orjson.loads(await r.read())
        self.model = BoardModel.from_snapshot(snapshot, self.model.items)
        self.dirty = False
        self.shared.resyncs += 1

    # -- the operations ------------------------------------------------------------------------

    async def open_board(self) -> None:
        await self.request("open_board", "GET", f"/boards/{self.board_id}")

    async def create_card(self) -> None:
        list_id, after = self.model.create_target(self.rng)
        self.created += 1
        status, data = await self.request("create_card", "POST", f"/lists/{list_id}/cards",
                                          {"title": f"New card {self.created} from user {self.n}", "after_id": after})
        if status == 201:
            self.model.created(list_id, orjson.loads(data)["id"])

    async def move_card(self) -> None:
        card = self.model.random_card(self.rng)
        if card is None:
            return await self.create_card()
        list_id, index, after, before = self.model.move_target(self.rng, card)
        status, _ = await self.request("move_card", "POST", f"/cards/{card}/move",
                                       {"list_id": list_id, "after_id": after, "before_id": before})
        if status == 200:
            self.model.moved(card, list_id, index)

    async def edit_card(self) -> None:
        card = self.model.random_card(self.rng)
        if card is None:
            return await self.create_card()
        kind = self.rng.randrange(3)
        body: dict[str, Any] = ({"title": f"Edited by user {self.n} ({self.rng.randrange(10**6)})"} if kind == 0 else
                                {"description": f"Updated notes, revision {self.rng.randrange(10**6)}."} if kind == 1
                                else {"completed": self.rng.random() < 0.5})
        await self.request("edit_card", "PATCH", f"/cards/{card}", body)

    async def comment(self) -> None:
        card = self.model.random_card(self.rng)
        if card is None:
            return await self.create_card()
        await self.request("comment", "POST", f"/cards/{card}/comments",
                           {"body": f"Looks good to me, shipping it (user {self.n})."})

    async def open_card(self) -> None:
        card = self.model.random_card(self.rng)
        if card is None:
            return await self.open_board()
        await self.request("open_card", "GET", f"/cards/{card}")

    async def list_boards(self) -> None:
        await self.request("list_boards", "GET", f"/workspaces/{self.user.workspace_id}/boards?limit=200")

    async def toggle_item(self) -> None:
        found = self.model.random_item(self.rng)
        if found is None:
            return await self.open_card()
        card, item, done = found
        status, _ = await self.request("toggle_item", "PATCH", f"/checklist-items/{item}", {"done": not done})
        if status == 200:
            self.model.toggled(card, item, not done)

    async def delete_card(self) -> None:
        card = self.model.random_card(self.rng)
        if card is None:
            return await self.create_card()
        status, _ = await self.request("delete_card", "DELETE", f"/cards/{card}")
        if status == 204:
            self.model.deleted(card)

    async def create_board(self) -> None:
        await self.request("create_board", "POST", f"/workspaces/{self.user.workspace_id}/boards",
                           {"name": f"New board from user {self.n}", "color": "purple"})

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 2)
