"""Idempotency-Key on POST: a retried request returns the first response and changes nothing.

The key is recorded by the unit of work inside the command's own transaction, with the
answer to replay when the command hands its response to `commit` (or its route withholds
it): one commit, so one replica acknowledgement, per write, and no moment in which the
change is applied but its key is "in progress". A command that does not hand it over has
its answer stored right after, before the last byte leaves, and a crash in between still
leaves that key "in progress" and then "response lost".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from fastapi.datastructures import DefaultPlaceholder
from fastapi.exceptions import ResponseValidationError
from fastapi.routing import APIRoute, serialize_response
from sqlalchemy import Index, Integer, String, delete, select, update
from sqlalchemy.orm import Mapped, mapped_column
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orbitask.core import context
from orbitask.core.context import IdempotencyClaim
from orbitask.core.db import Base, Database, UTCDateTime, long_binary, utcnow
from orbitask.core.errors import DomainError, problem, render_problem
from orbitask.core.tokens import ConsistencyToken

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 255
REPLAYED_HEADERS = ("content-type", "location", "x-orbitask-token")
WITHHELD = "x-orbitask-withheld"
RESPONSE_LOST_AFTER = dt.timedelta(seconds=60)  # longer than any request may run

log = structlog.get_logger("orbitask.idempotency")


class IdempotencyRecord(Base):
    """A key seen on a committed command, with the response it produced."""

    __tablename__ = "idempotency_key"
    __table_args__ = (Index("uq_idempotency_key_scope_key", "scope", "key", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None]
    response_headers: Mapped[dict[str, Any] | None]
    response_body: Mapped[bytes | None] = mapped_column(long_binary())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


@dataclass(frozen=True, slots=True)
class Answer:
    """A response as it is stored for replay: status, the replayed headers, body."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True)
class Claim(IdempotencyClaim):
    """A key to record, with the request it came on: its route shapes the answer stored with the command."""

    request: Scope = field(default_factory=dict)  # the ASGI scope, where routing names the route
    answer: Answer | None = None  # what the command's transaction stored; None: stored after it, if at all


async def answer_before_commit(
    claim: IdempotencyClaim, response: object | None, token: ConsistencyToken | None
) -> Answer | None:
    """The answer the route will give for a command's `response`, built as FastAPI builds it; None if unknown.

    `token` is the request's write token once this command commits. A withheld answer needs no response.
    """
    route = claim.request.get("route") if isinstance(claim, Claim) else None
    if not isinstance(route, APIRoute):
        return None
    status = route.status_code or 200
    state = context.current()
    if state is not None and state.extra.get("withhold"):  # never the secret itself, only that it was made
        return Answer(status, {WITHHELD: "1"}, b"")
    if response is None or route.response_field is None or not isinstance(route.response_class, DefaultPlaceholder):
        return None
    try:
        body = await serialize_response(
            field=route.response_field, response_content=response, include=route.response_model_include,
            exclude=route.response_model_exclude, by_alias=route.response_model_by_alias,
            exclude_unset=route.response_model_exclude_unset,
            exclude_defaults=route.response_model_exclude_defaults,
            exclude_none=route.response_model_exclude_none, dump_json=True,
        )
    except (ResponseValidationError, ValueError):  # the route's own serialisation will answer (a 500) after commit
        return None
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["x-orbitask-token"] = token.encode()
    return Answer(status, headers, body)


def claim_record(claim: IdempotencyClaim, answer: Answer | None) -> IdempotencyRecord:
    """The row that records `claim` in the command's transaction, with its answer when known."""
    return IdempotencyRecord(
        scope=claim.scope, key=claim.key, request_hash=claim.request_hash, created_at=utcnow(),
        expires_at=claim.expires_at, status_code=answer.status if answer else None,
        response_headers=answer.headers if answer else None, response_body=answer.body if answer else None,
    )


class Identify(Protocol):
    """Who a request is (the scope of its keys), and whether its credentials still hold."""

    def __call__(self, headers: dict[str, str], client_ip: str) -> str:
        """The request's scope: one user, one API token, or one client address."""
        ...

    async def authenticate(self, scope: Scope) -> None:
        """Raise the DomainError a fresh request's authentication would raise (401, 403)."""
        ...


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None when it exceeds `limit`."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


class IdempotencyMiddleware:
    """Replays stored responses for repeated (scope, Idempotency-Key) pairs on POST."""

    def __init__(
        self, app: ASGIApp, *, db: Database, identify: Identify, ttl_seconds: int, max_body: int,
        exclude_prefixes: tuple[str, ...] = (), unbuffered: re.Pattern[str] | None = None,
    ) -> None:
        self.app = app
        # File uploads are never buffered in memory to hash them: the key is not honoured there (documented).
        self.unbuffered = unbuffered
        # Responses on these paths carry secrets (session tokens): never stored, key ignored.
        self.exclude_prefixes = exclude_prefixes
        self.db = db
        self.identify = identify
        self.ttl = dt.timedelta(seconds=ttl_seconds)
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http" or scope["method"] != "POST" or scope["path"].startswith(self.exclude_prefixes)
            or (self.unbuffered is not None and self.unbuffered.match(scope["path"]))
        ):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        key = headers.get(HEADER)
        if key is None:
            await self.app(scope, receive, send)
            return
        if not (0 < len(key) <= MAX_KEY_LENGTH and key.isprintable() and key.isascii()):
            detail = f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters."
            await problem(400, "invalid-idempotency-key", "Invalid Idempotency-Key", detail)(scope, receive, send)
            return
        body = await _read_body(receive, self.max_body)
        if body is None:
            detail = f"The request body exceeds {self.max_body} bytes."
            await problem(413, "payload-too-large", "Request body too large", detail)(scope, receive, send)
            return
        client = scope.get("client") or ("", 0)
        who = self.identify(headers, client[0])
        digest = hashlib.sha256()
        for part in (scope["method"], scope["path"], scope.get("query_string", b"").decode("latin-1")):
            digest.update(part.encode() + b"\0")
        digest.update(body)
        request_hash = digest.hexdigest()

        existing = await self._lookup(who, key)
        if existing is not None:
            # the scope comes from a token's signature alone: a stored answer (or word of the key) goes
            # only to credentials the route would accept now, not to a token revoked since (signed out)
            try:
                await self.identify.authenticate(scope)
            except DomainError as exc:
                await render_problem(exc)(scope, receive, send)
                return
            await self._answer_existing(existing, request_hash, scope, receive, send)
            return

        state = context.current()
        claim = Claim(who, key, request_hash, utcnow() + self.ttl, request=scope)
        if state is not None:
            state.idempotency = claim
        captured: dict[str, Any] = {"body": []}

        async def replay_receive() -> Message:
            if not captured.get("sent"):
                captured["sent"] = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def capture_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = {
                    k.decode("latin-1").lower(): v.decode("latin-1")
                    for k, v in message.get("headers", [])
                    if k.decode("latin-1").lower() in REPLAYED_HEADERS
                }
            elif message["type"] == "http.response.body":
                captured["body"].append(message.get("body", b""))
                if not message.get("more_body", False) and claim.recorded:
                    captured["last"] = message  # held back until the response is stored
                    return
            await send(message)

        await self.app(scope, replay_receive, capture_send)
        if state is not None and state.write_token is not None:  # added by the outer middleware
            captured.setdefault("headers", {})["x-orbitask-token"] = state.write_token.encode()
        if state is not None and state.extra.get("withhold"):
            captured["headers"] = {WITHHELD: "1"}
            captured["body"] = []
        if claim.recorded and self._differs(claim.answer, captured):
            try:
                await self._store(claim, captured)
            except Exception:  # the command committed: its answer still goes out; a retry sees a conflict
                log.exception("idempotency_store_failed", route=getattr(scope.get("route"), "path", "unmatched"))
        if "last" in captured:
            await send(captured["last"])

    @staticmethod
    def _differs(stored: Answer | None, captured: dict[str, Any]) -> bool:
        """Whether the answer sent is not the one stored with the command (a second write is needed)."""
        if stored is None:
            return True
        status = captured.get("status", 500)
        # a failure after the commit: the stored answer says what was applied, better than no answer
        if status >= 500:
            return False
        return stored != Answer(status, captured.get("headers", {}), b"".join(captured["body"]))

    async def _lookup(self, who: str, key: str) -> IdempotencyRecord | None:
        async with self.db.read_session(on_writer=True) as session:
            row = (
                await session.execute(
                    select(IdempotencyRecord).where(IdempotencyRecord.scope == who, IdempotencyRecord.key == key)
                )
            ).scalar_one_or_none()
        if row is not None and row.expires_at < utcnow():
            async with self.db.write_transaction() as session:
                await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == row.id))
            return None
        return row

    async def _answer_existing(
        self, row: IdempotencyRecord, request_hash: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        if row.request_hash != request_hash:
            response = problem(
                422, "idempotency-key-reused", "Idempotency-Key reused",
                "This Idempotency-Key was already used for a different request; use a new key.",
            )
        elif row.status_code is not None and (row.response_headers or {}).get(WITHHELD):
            response = problem(
                409, "idempotency-response-withheld", "Already done",
                "The first request with this Idempotency-Key succeeded; its response held a secret that is "
                "shown only once, so it is not replayed.",
            )
        elif row.status_code is None and utcnow() - row.created_at > RESPONSE_LOST_AFTER:
            # the row is written in the command's own transaction: the change was applied
            response = problem(
                409, "idempotency-response-lost", "Already applied",
                "The first request with this Idempotency-Key was applied, but its response was lost "
                "(the server stopped before sending it). Reload the resource instead of retrying.",
            )
        elif row.status_code is None:
            response = problem(
                409, "idempotency-in-progress", "Request in progress",
                "The first request with this Idempotency-Key has not finished; retry shortly.",
                headers={"Retry-After": "1"},
            )
        else:
            await send({
                "type": "http.response.start",
                "status": row.status_code,
                "headers": [(k.encode(), v.encode()) for k, v in (row.response_headers or {}).items()]
                + [(b"idempotent-replayed", b"true"), (b"content-length", str(len(row.response_body or b"")).encode())],
            })
            await send({"type": "http.response.body", "body": row.response_body or b""})
            return
        await response(scope, receive, send)

    async def _store(self, claim: IdempotencyClaim, captured: dict[str, Any]) -> None:
        status = captured.get("status", 500)
        async with self.db.write_transaction() as session:
            where = (IdempotencyRecord.scope == claim.scope, IdempotencyRecord.key == claim.key)
            if status >= 500:  # the command committed but the answer failed: let a retry see a conflict
                await session.execute(update(IdempotencyRecord).where(*where).values(status_code=None))
            else:
                await session.execute(
                    update(IdempotencyRecord)
                    .where(*where)
                    .values(
                        status_code=status,
                        response_headers=captured.get("headers", {}),
                        response_body=b"".join(captured["body"]),
                    )
                )


async def purge_expired(db: Database) -> int:
    """Delete expired keys; returns how many."""
    async with db.write_transaction() as session:
        result = await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < utcnow()))
    return result.rowcount or 0
