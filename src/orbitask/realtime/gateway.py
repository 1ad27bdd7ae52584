"""WebSocket connections: subscribe to boards, replay missed events from the log, then live events.

Protocol (JSON text frames, each with a `type`):
  client -> server  {"type": "subscribe", "board_id": ..., "after_version": N?}
                    {"type": "unsubscribe", "board_id": ...}   {"type": "ping"}   {"type": "pong"}
  server -> client  {"type": "subscribed", "board_id", "version"}   {"type": "event", "event": {...}}
                    {"type": "resync", "board_id", "version", "reason"}   {"type": "unsubscribed", "board_id", "reason"}
                    {"type": "error", "code", "message", "board_id"?}   {"type": "ping"}   {"type": "pong"}
                    {"type": "batch", "messages": [message, ...]}
                    {"type": "notification", "notification": {...}, "unread_count": N}
                    {"type": "notifications_read", "ids": [...], "all": bool, "read": bool, "unread_count": N}
Per board, events arrive in board_version order without gaps or repeats; a client that is
told `resync` reloads the board snapshot. When several messages are queued for a socket at
once (a replay, or a busy server), they go out as one `batch` frame holding them in order:
one write instead of many. Clients handle a batch as its messages, one after another.

Access: after an event that may change what the user sees of a board (removed from it or
from its workspace, a role or the visibility changed, the board deleted), nothing more of that
board goes out until a re-check on the writer says the user still sees it; if not, the socket
gets `unsubscribed` (reason `access_revoked`) and nothing written after the change. A board's
event holds it where it stands in board_version order; a workspace event holds the user's
boards of that workspace from the moment the hub dispatches it, before any later event.

Notifications: every socket receives its user's `notification` messages (a new in-app
notification, with the new unread count) and `notifications_read` (marked read or unread
elsewhere, e.g. in another tab), without subscribing; see docs/notifications.md.

Presence: subscribing to a board also marks the user as viewing it, until the socket
unsubscribes, loses access or disconnects (or stops answering: entries expire after
ORBITASK_PRESENCE_TTL_SECONDS unless the heartbeat refreshes them). Right after `subscribed`
(or `resync`), and whenever the set changes, subscribers receive
                    {"type": "presence", "board_id", "users": [user ids, sorted]}
with the whole current set (a user with several sockets appears once). Identical
consecutive sets are not repeated. Across processes (Redis) a change normally arrives at
once; one lost by pub/sub arrives with the next sweep (10 s). Without a working Redis the
set is simply empty.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from sqlalchemy import select
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected, WebSocketState

from orbitask.auth.policy import Actor
from orbitask.boards.service import board_view
from orbitask.core.db import Database
from orbitask.core.errors import DomainError
from orbitask.core.events import Event, EventRead
from orbitask.core.observability import SOCKET_DROPS
from orbitask.core.presence import member_of
from orbitask.realtime.hub import Hub, changes_access, presence_frame
from orbitask.realtime.presence import BoardPresence

log = structlog.get_logger("orbitask.ws")

MAX_FRAME_BYTES = 16 * 1024
MAX_SUBSCRIPTIONS = 100
REPLAY_LIMIT = 1000
OUTBOX_LIMIT = 512
BATCH_MAX = 64  # messages per batch frame
HEARTBEAT_S = 20.0
IDLE_TIMEOUT_S = 60.0
CLOSE_SLOW = 4008
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_RETRY = 1013
LEAVE_TIMEOUT_S = 5.0


@dataclass(eq=False)
class BoardState:
    """Where one subscription stands."""

    workspace_id: uuid.UUID
    version: int
    ready: bool = False  # replay done: live events may flow
    pending: list[dict[str, Any]] = field(default_factory=list)  # live events seen during replay or a hold
    presence: list[str] | None = None  # the users last sent
    holds: int = 0  # access re-checks in flight: while any is, nothing of the board goes out


class Connection:
    """One socket: its subscriptions, a bounded outbox and the loops that serve it."""

    def __init__(
        self, ws: WebSocket, actor: Actor, db: Database, hub: Hub, presence: BoardPresence | None = None
    ) -> None:
        self.ws = ws
        self.actor = actor
        self.user_id = actor.user_id
        self.db = db
        self.hub = hub
        self.presence = presence
        self.member = member_of(actor.user_id, uuid.uuid4().hex)
        self.boards: dict[uuid.UUID, BoardState] = {}
        self.outbox: asyncio.Queue[str | None] = asyncio.Queue(maxsize=OUTBOX_LIMIT)
        self.closing: tuple[int, str] | None = None
        self.access_changes = 0  # workspace events about this user seen so far (a subscribe compares)
        self.last_seen = asyncio.get_running_loop().time()
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- sending -----------------------------------------------------------------------------

    def send(self, message: dict[str, Any]) -> None:
        """Queue a message; a full outbox means the client cannot keep up: close with a resync hint."""
        self.send_frame(orjson.dumps(message).decode())

    def send_frame(self, frame: str) -> None:
        """Queue an encoded message (live events are encoded once, for every socket)."""
        if self.closing is not None:
            return
        try:
            self.outbox.put_nowait(frame)
        except asyncio.QueueFull:
            SOCKET_DROPS.labels("slow_consumer").inc()
            self.close(CLOSE_SLOW, "slow consumer: reconnect and resync")

    def close(self, code: int, reason: str) -> None:
        """End the connection after what is already queued."""
        if self.closing is None:
            self.closing = (code, reason)
            while True:  # make room for the sentinel
                try:
                    self.outbox.put_nowait(None)
                    break
                except asyncio.QueueFull:
                    self.outbox.get_nowait()

    async def _writer(self) -> None:
        try:
            while True:
                data = await self.outbox.get()
                frames: list[str] = []
                while data is not None:
                    frames.append(data)
                    if len(frames) == BATCH_MAX or self.outbox.empty():
                        break
                    data = self.outbox.get_nowait()
                if frames:
                    await self.ws.send_text(frames[0] if len(frames) == 1 else batch_frame(frames))
                if data is None:
                    code, reason = self.closing or (1000, "")
                    await self.ws.close(code=code, reason=reason)
                    return
        except (WebSocketDisconnect, WebSocketDisconnected) as exc:  # the client left mid-send: normal
            log.debug("socket_gone", during="send", code=getattr(exc, "code", None))

    async def _heartbeat(self) -> None:
        loop = asyncio.get_running_loop()
        while self.closing is None:
            await asyncio.sleep(HEARTBEAT_S)
            if loop.time() - self.last_seen > IDLE_TIMEOUT_S:
                SOCKET_DROPS.labels("idle").inc()
                self.close(1001, "no traffic from the client")
                return
            self.send({"type": "ping"})
            if self.presence is not None and self.boards:
                await self.presence.touch(list(self.boards), self.member)

    # -- hub callbacks -----------------------------------------------------------------------

    def offer(self, board_id: uuid.UUID, event: dict[str, Any], frame: str) -> None:
        """A live event for a subscribed board (called by the hub)."""
        state = self.boards.get(board_id)
        if state is None:
            return
        if not state.ready or state.holds:
            state.pending.append(event)
            return
        self._deliver(board_id, state, event, frame)

    def catch_up(self) -> None:
        """Live events may have been lost on the bus: read what is missing from the log (called by the hub)."""
        for board_id, state in self.boards.items():
            if state.ready:  # a fill already running reads the log anyway
                state.ready = False
                self._spawn(self._fill(board_id, state))

    def recheck(self, board_ids: set[uuid.UUID]) -> None:
        """The user's workspace membership changed: hold these boards until access is verified (called by the hub)."""
        self.access_changes += 1
        self._hold([(board_id, state) for board_id in board_ids if (state := self.boards.get(board_id))])

    def _hold(self, held: list[tuple[uuid.UUID, BoardState]]) -> None:
        """Send nothing more of these boards until a re-check on the writer says they are still visible."""
        # taken at once, before any later event is looked at: a re-check that only began then used to lose
        # the race to the events written right after a removal, and send them
        for _, state in held:
            state.holds += 1
        if held:
            self._spawn(self._recheck(held))

    async def _recheck(self, held: list[tuple[uuid.UUID, BoardState]]) -> None:
        for board_id, state in held:
            try:
                async with self.db.read_session(on_writer=True) as session:
                    await board_view(session, self.actor, board_id)
            except DomainError:
                if self.boards.get(board_id) is state:  # not unsubscribed (or subscribed afresh) meanwhile
                    self._drop(board_id)
                    self.send({"type": "unsubscribed", "board_id": str(board_id), "reason": "access_revoked"})
                    await self._leave(board_id)
                continue
            except Exception:  # cannot tell: fail closed; the client reconnects and subscribing checks again
                log.warning("access_recheck_failed", exc_info=True)
                self.close(CLOSE_RETRY, "could not re-check access: reconnect")
                return
            state.holds -= 1
            if self.boards.get(board_id) is state and not state.holds and state.ready:
                state.ready = False  # send what was held back, from the log
                self._spawn(self._fill(board_id, state))

    def notify(self, frame: str) -> None:
        """A message addressed to this user (called by the hub)."""
        self.send_frame(frame)

    def show_presence(self, board_id: uuid.UUID, users: list[str], frame: str | None = None) -> None:
        """Who is on a subscribed board now (called by the hub); repeats are skipped."""
        state = self.boards.get(board_id)
        if state is not None and users != state.presence:
            state.presence = users
            self.send_frame(frame or presence_frame(board_id, users))

    async def _join(self, board_id: uuid.UUID) -> None:
        if self.presence is not None:
            users = await self.presence.join(board_id, self.member)
            if board_id in self.boards:
                self.show_presence(board_id, users)
            else:  # access was revoked while joining
                await self.presence.leave(board_id, self.member)

    async def _leave(self, *board_ids: uuid.UUID) -> None:
        if self.presence is not None:
            for board_id in board_ids:
                await self.presence.leave(board_id, self.member)

    # -- subscriptions -----------------------------------------------------------------------

    def _deliver(self, board_id: uuid.UUID, state: BoardState, event: dict[str, Any], frame: str) -> None:
        version = event["board_version"]
        if version <= state.version:
            return  # already sent (replay and live overlap, or a bus duplicate)
        if version == state.version + 1:
            self._send_event(board_id, state, event, frame)
            return
        # a gap: fetch what is missing from the log before going on
        state.ready = False
        state.pending.append(event)
        self._spawn(self._fill(board_id, state))

    def _send_event(self, board_id: uuid.UUID, state: BoardState, event: dict[str, Any], frame: str | None = None) -> None:
        """Send the board's next event; after one that may change the user's access, hold the board."""
        state.version = event["board_version"]
        if frame is None:
            self.send({"type": "event", "event": event})
        else:
            self.send_frame(frame)
        if changes_access(event, self.user_id):
            self._hold([(board_id, state)])

    async def _fill(self, board_id: uuid.UUID, state: BoardState) -> None:
        events = await self._events_after(board_id, state.version, REPLAY_LIMIT)
        if self.boards.get(board_id) is not state:
            return  # unsubscribed meanwhile (access revoked, or asked)
        for event in events:
            if state.holds:
                break  # the rest is read again once access is confirmed
            if event["board_version"] == state.version + 1:
                self._send_event(board_id, state, event)
        pending, state.pending = sorted(state.pending, key=lambda e: e["board_version"]), []
        for event in pending:
            if state.holds:
                state.pending = [e for e in pending if e["board_version"] > state.version]
                break
            if event["board_version"] == state.version + 1:
                self._send_event(board_id, state, event)
        skipped = [] if state.holds else [e for e in pending if e["board_version"] > state.version]
        if skipped:  # still missing (replica behind the bus): tell the client to reload
            state.version = max(e["board_version"] for e in skipped)
            self.send({"type": "resync", "board_id": str(board_id), "version": state.version, "reason": "gap"})
            if any(changes_access(e, self.user_id) for e in skipped):
                self._hold([(board_id, state)])
        state.ready = True

    async def _events_after(self, board_id: uuid.UUID, version: int, limit: int) -> list[dict[str, Any]]:
        async with self.db.read_session() as session:
            rows = await session.execute(
                select(Event).where(Event.board_id == board_id, Event.board_version > version)
                .order_by(Event.board_version).limit(limit)
            )
            return [EventRead.model_validate(e).model_dump(mode="json") for e in rows.scalars()]

    async def subscribe(self, board_id: uuid.UUID, after_version: int | None) -> None:
        """Check access, register for live events, replay what the client missed (or say resync)."""
        resubscribing = board_id in self.boards
        if resubscribing:
            self._drop(board_id)  # presence is kept: the board is joined again below
        if len(self.boards) >= MAX_SUBSCRIPTIONS:
            self.send({"type": "error", "code": "too_many_subscriptions", "board_id": str(board_id),
                       "message": f"At most {MAX_SUBSCRIPTIONS} boards per connection."})
            return
        changes = self.access_changes
        try:
            async with self.db.read_session() as session:
                view = await board_view(session, self.actor, board_id)
        except DomainError:
            self.send({"type": "error", "code": "not_found", "board_id": str(board_id), "message": "No such board."})
            if resubscribing:
                await self._leave(board_id)
            return
        current = view.board.version
        start = current if after_version is None else after_version
        state = BoardState(view.board.workspace_id, start)
        self.boards[board_id] = state
        self.hub.add(board_id, view.board.workspace_id, self)  # live events buffer from here on
        if self.access_changes != changes:  # a workspace event about the user passed while checking
            self._hold([(board_id, state)])
        if after_version is not None and (after_version > current or current - after_version > REPLAY_LIMIT):
            state.version = current
            state.ready = True
            reason = "too_old" if after_version < current else "unknown_version"
            self.send({"type": "resync", "board_id": str(board_id), "version": current, "reason": reason})
        else:
            self.send({"type": "subscribed", "board_id": str(board_id), "version": current})
            await self._fill(board_id, state)
        await self._join(board_id)

    def _drop(self, board_id: uuid.UUID) -> None:
        self.boards.pop(board_id, None)
        self.hub.remove(board_id, self)

    # -- reading -----------------------------------------------------------------------------

    async def _handle(self, text: str) -> None:
        if len(text.encode()) > MAX_FRAME_BYTES:
            SOCKET_DROPS.labels("frame_too_big").inc()
            self.close(CLOSE_TOO_BIG, f"frames are limited to {MAX_FRAME_BYTES} bytes")
            return
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            self.send({"type": "error", "code": "malformed", "message": "Frames must be JSON objects."})
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            self.send({"type": "error", "code": "malformed", "message": "A frame needs a string `type`."})
            return
        kind = message["type"]
        if kind == "ping":
            self.send({"type": "pong"})
        elif kind == "pong":
            pass
        elif kind in ("subscribe", "unsubscribe"):
            board_id = _uuid(message.get("board_id"))
            after = message.get("after_version")
            if board_id is None or (after is not None and (not isinstance(after, int) or isinstance(after, bool)
                                                           or after < 0)):
                self.send({"type": "error", "code": "invalid", "message":
                           "`board_id` must be a board id and `after_version` a non-negative integer."})
            elif kind == "subscribe":
                await self.subscribe(board_id, after)
            else:
                subscribed = board_id in self.boards
                self._drop(board_id)
                self.send({"type": "unsubscribed", "board_id": str(board_id), "reason": "requested"})
                if subscribed:
                    await self._leave(board_id)
        else:
            self.send({"type": "error", "code": "unknown_type", "message": f"Unknown message type {kind[:40]!r}."})

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def serve(self) -> None:
        """Run until the client leaves or the server closes the connection."""
        writer = asyncio.create_task(self._writer())
        heartbeat = asyncio.create_task(self._heartbeat())
        self.hub.add_user(self)
        try:
            while self.closing is None:
                receive = asyncio.create_task(self.ws.receive())
                done, _ = await asyncio.wait({receive, writer}, return_when=asyncio.FIRST_COMPLETED)
                if receive not in done:
                    receive.cancel()
                    break
                message = receive.result()
                if message["type"] == "websocket.disconnect":
                    break
                self.last_seen = asyncio.get_running_loop().time()
                if message.get("bytes") is not None:
                    self.send({"type": "error", "code": "malformed", "message": "Send text frames."})
                    continue
                await self._handle(message.get("text") or "")
            if self.closing is not None and not writer.done():
                await asyncio.wait_for(writer, timeout=5)
        except (WebSocketDisconnect, RuntimeError, TimeoutError) as exc:  # the client left, or never read
            log.debug("socket_gone", during="receive", error=type(exc).__name__)
        finally:
            self.hub.remove_user(self)
            boards = list(self.boards)
            for board_id in boards:
                self._drop(board_id)
            for task in (writer, heartbeat, *self._tasks):
                task.cancel()
            try:
                async with asyncio.timeout(LEAVE_TIMEOUT_S):  # not wait_for: on 3.11 it can swallow a cancel
                    await self._leave(*boards)
            except Exception:  # presence is best effort; entries expire on their own
                log.warning("presence_leave_failed", boards=len(boards))
            # a client that left has nothing to close (a closing handshake is answered by the server)
            if WebSocketState.DISCONNECTED not in (self.ws.application_state, self.ws.client_state):
                try:
                    await self.ws.close()
                except (WebSocketDisconnect, RuntimeError):  # it left meanwhile
                    log.debug("socket_gone", during="close")


def batch_frame(frames: list[str]) -> str:
    """One `batch` message around messages already encoded."""
    return '{"type":"batch","messages":[' + ",".join(frames) + "]}"


def _uuid(value: object) -> uuid.UUID | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
