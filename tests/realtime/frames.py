"""Reading server messages in tests: `batch` frames hold several messages, in order."""

from __future__ import annotations

from collections import deque
from typing import Any

import orjson


def unpack(raw: str | bytes) -> list[dict[str, Any]]:
    """The messages in one frame."""
    message = orjson.loads(raw)
    return message["messages"] if message["type"] == "batch" else [message]


def receive(ws: Any) -> dict[str, Any]:
    """The next message on a TestClient socket, unpacking batch frames."""
    pending: deque[dict[str, Any]] = ws.__dict__.setdefault("_orbitask_pending", deque())
    while not pending:
        pending.extend(unpack(ws.receive_text()))
    return pending.popleft()
