"""Per-request state shared between middleware and the unit of work."""

from __future__ import annotations

import contextvars
import datetime as dt
from dataclasses import dataclass, field

from orbitask.core.tokens import ConsistencyToken


@dataclass(slots=True)
class IdempotencyClaim:
    """An Idempotency-Key the current command must record in its own transaction."""

    scope: str
    key: str
    request_hash: str
    expires_at: dt.datetime
    recorded: bool = False


@dataclass(slots=True)
class RequestState:
    """What a request carries in (read token) and out (write token)."""

    read_token: ConsistencyToken | None = None
    write_token: ConsistencyToken | None = None
    idempotency: IdempotencyClaim | None = None
    extra: dict[str, object] = field(default_factory=dict)


_state: contextvars.ContextVar[RequestState | None] = contextvars.ContextVar("orbitask_request", default=None)


def current() -> RequestState | None:
    """The state of the request being served, if any."""
    return _state.get()


def withhold_from_replay() -> None:
    """Mark this response as holding a secret: an idempotent replay must not return it."""
    state = current()
    if state is not None:
        state.extra["withhold"] = True


def begin() -> tuple[RequestState, contextvars.Token[RequestState | None]]:
    """Start a request's state."""
    state = RequestState()
    return state, _state.set(state)


def end(token: contextvars.Token[RequestState | None]) -> None:
    """Forget the request's state."""
    _state.reset(token)
