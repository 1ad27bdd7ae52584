"""Per-process routing of bus events to the sockets subscribed to their boards."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any, Protocol

import orjson

# events after which subscribers must re-check that they may still see the board
ACCESS_EVENTS = {
    "board.member_removed", "board.member_updated", "board.updated", "board.deleted",
    "workspace.member_removed", "workspace.member_updated", "workspace.deleted",
}

# events addressed to one user (payload `user_id`), sent to that user's sockets as these message types
USER_MESSAGES = {"notification.created": "notification", "notification.read": "notifications_read"}


def changes_access(event: dict[str, Any], user_id: uuid.UUID) -> bool:
    """Whether `event` may change what `user_id` can see of its board or workspace (re-check before going on)."""
    if event["type"] not in ACCESS_EVENTS:
        return False
    payload = event.get("payload") or {}
    if event["type"] == "board.updated":
        return "visibility" in payload.get("changes", ())  # the only board field access depends on
    target = payload.get("user_id")
    return target is None or target == str(user_id)


def event_frame(event_json: bytes) -> str:
    """The `event` message around an event already encoded as JSON."""
    return '{"type":"event","event":' + event_json.decode() + "}"


def presence_frame(board_id: uuid.UUID, users: list[str]) -> str:
    """The `presence` message."""
    return orjson.dumps({"type": "presence", "board_id": str(board_id), "users": users}).decode()


class Subscriber(Protocol):
    """A connection as the hub sees it."""

    user_id: uuid.UUID

    def offer(self, board_id: uuid.UUID, event: dict[str, Any], frame: str) -> None:
        """Queue a live event for a subscribed board; `frame` is its encoded `event` message."""
        ...

    def catch_up(self) -> None:
        """Live events may have been lost (the bus reconnected): fetch what is missing from the log."""
        ...

    def recheck(self, board_ids: set[uuid.UUID]) -> None:
        """The user's access may have changed: send nothing more of these boards until it is checked again.

        Called while the event that changed it is dispatched, so no later event gets ahead of the check.
        """
        ...

    def show_presence(self, board_id: uuid.UUID, users: list[str], frame: str) -> None:
        """Tell the connection who is on a subscribed board now; `frame` is the encoded message."""
        ...

    def notify(self, frame: str) -> None:
        """Queue a message addressed to the connection's user (a notification)."""
        ...


class Hub:
    """board id -> subscribers in this process."""

    def __init__(self) -> None:
        self.boards: dict[uuid.UUID, set[Subscriber]] = defaultdict(set)
        self.workspaces: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)  # workspace -> boards watched here
        self.users: dict[uuid.UUID, set[Subscriber]] = defaultdict(set)  # user -> their sockets here

    def add_user(self, subscriber: Subscriber) -> None:
        """Route messages addressed to the subscriber's user to it (every socket, from connect)."""
        self.users[subscriber.user_id].add(subscriber)

    def remove_user(self, subscriber: Subscriber) -> None:
        """Stop routing the user's messages to this socket."""
        subs = self.users.get(subscriber.user_id)
        if subs is not None:
            subs.discard(subscriber)
            if not subs:
                del self.users[subscriber.user_id]

    def add(self, board_id: uuid.UUID, workspace_id: uuid.UUID, subscriber: Subscriber) -> None:
        """Start routing the board's events to `subscriber`."""
        self.boards[board_id].add(subscriber)
        self.workspaces[workspace_id].add(board_id)

    def remove(self, board_id: uuid.UUID, subscriber: Subscriber) -> None:
        """Stop routing the board's events to `subscriber`."""
        subs = self.boards.get(board_id)
        if subs is not None:
            subs.discard(subscriber)
            if not subs:
                del self.boards[board_id]
                for boards in self.workspaces.values():
                    boards.discard(board_id)

    @property
    def subscriptions(self) -> int:
        """How many (board, socket) pairs are routed."""
        return sum(len(s) for s in self.boards.values())

    def present(self, board_id: uuid.UUID, users: list[str]) -> None:
        """Send the board's present users to its subscribers here (encoded once for all of them)."""
        subs = self.boards.get(board_id)
        if subs:
            frame = presence_frame(board_id, users)
            for sub in list(subs):
                sub.show_presence(board_id, users, frame)

    async def dispatch(self, message: bytes) -> None:
        """Route one event from the bus; the frame sent to sockets is built once, from the bus bytes."""
        event = orjson.loads(message)
        if event["type"] in USER_MESSAGES:
            self._to_user(event)
            return
        board_id = uuid.UUID(event["board_id"]) if event.get("board_id") else None
        if board_id is not None:
            subs = self.boards.get(board_id)
            if subs:
                frame = event_frame(message)
                for sub in list(subs):
                    sub.offer(board_id, event, frame)
        if board_id is None and event["type"] in ACCESS_EVENTS:
            self._access_changed(event)

    def _to_user(self, event: dict[str, Any]) -> None:
        payload = dict(event.get("payload") or {})
        subs = self.users.get(uuid.UUID(payload.pop("user_id")))
        if subs:
            frame = orjson.dumps({"type": USER_MESSAGES[event["type"]], **payload}).decode()
            for sub in list(subs):
                sub.notify(frame)

    def reconnected(self) -> None:
        """The bus (re)subscribed: events published meanwhile were lost for us; sockets fill from the log."""
        seen: set[int] = set()
        for subs in list(self.boards.values()):
            for sub in list(subs):
                if id(sub) not in seen:
                    seen.add(id(sub))
                    sub.catch_up()

    def _access_changed(self, event: dict[str, Any]) -> None:
        """A workspace event that may change access: the sockets it concerns hold the workspace's boards here.

        Board events are checked by each subscriber as it sends them, in board-version order (gateway).
        The user's sockets are told even without an affected board: one may be subscribing right now.
        """
        if not event.get("workspace_id"):
            return
        affected = set(self.workspaces.get(uuid.UUID(event["workspace_id"]), ()))
        user = (event.get("payload") or {}).get("user_id")
        if user is not None:
            subs: set[Subscriber] = set(self.users.get(uuid.UUID(user), ()))
        else:
            subs = {sub for bid in affected for sub in self.boards.get(bid, ())}
        for sub in subs:
            sub.recheck(affected)
