"""Domain errors and their problem+json (RFC 9457) rendering."""

from __future__ import annotations

import errno
import socket
from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

PROBLEM_BASE = "https://orbitask.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

log = structlog.get_logger("orbitask.errors")


class DomainError(Exception):
    """A rule said no. Subclasses set the HTTP status and a stable problem type."""

    status = 400
    type = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra
        self.headers: dict[str, str] = {}


class NotFound(DomainError):
    status, type, title = 404, "not-found", "Not found"


class Forbidden(DomainError):
    status, type, title = 403, "forbidden", "Forbidden"


class Unauthorized(DomainError):
    status, type, title = 401, "unauthorized", "Not signed in"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.headers = {"WWW-Authenticate": 'Bearer realm="orbitask"'}


class Conflict(DomainError):
    status, type, title = 409, "conflict", "Conflict"


class LimitReached(Conflict):
    """A container holds as much as it may (a board's labels, lists, cards or members): nothing more fits."""

    type, title = "limit-reached", "Limit reached"


class InvalidInput(DomainError):
    status, type, title = 422, "invalid-input", "Invalid input"


class InvalidPosition(InvalidInput):
    type, title = "invalid-position", "Invalid position"


class PayloadTooLarge(DomainError):
    status, type, title = 413, "payload-too-large", "Request body too large"


class ServiceUnavailable(DomainError):
    status, type, title = 503, "unavailable", "Service unavailable"

    def __init__(self, detail: str, retry_after: int = 1, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.headers = {"Retry-After": str(retry_after)}


class RateLimited(DomainError):
    status, type, title = 429, "rate-limited", "Too many requests"

    def __init__(self, detail: str, retry_after: int, **extra: Any) -> None:
        super().__init__(detail, retry_after=retry_after, **extra)
        self.headers = {"Retry-After": str(retry_after)}


# OSError numbers that mean "the server is unreachable", not "this file is wrong".
_NETWORK_ERRNOS = frozenset({
    errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.ETIMEDOUT,
    errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENETDOWN, errno.EHOSTDOWN, errno.ENOTCONN, errno.EADDRNOTAVAIL,
})
RETRY_AFTER_S = 1
UNAVAILABLE_DETAIL = "The database is unavailable; retry shortly."


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means a backing server is down or unreachable (answer 503 and let the client retry).

    Drivers do not agree on how a lost server looks: SQLAlchemy wraps most of it as
    OperationalError, but a dropped socket can also surface as InterfaceError, as any
    DBAPIError flagged `connection_invalidated`, as a pool checkout timeout, or as a raw
    socket error or timeout that the driver let through unwrapped.
    """
    if isinstance(exc, (OperationalError, InterfaceError, PoolTimeout)):
        return True
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated) or (exc.orig is not None and is_unavailable(exc.orig))
    if isinstance(exc, (ConnectionError, TimeoutError, socket.gaierror, socket.herror)):
        return True  # ConnectionRefusedError/ResetError/BrokenPipeError; asyncio.TimeoutError is TimeoutError
    if isinstance(exc, OSError):
        return exc.errno in _NETWORK_ERRNOS
    return False


def unavailable(
    detail: str = UNAVAILABLE_DETAIL, type_: str = "unavailable", title: str = "Service unavailable"
) -> Response:
    """A 503 problem that tells the client when to retry."""
    return problem(503, type_, title, detail, headers={"Retry-After": str(RETRY_AFTER_S)})


def request_timed_out(seconds: float) -> Response:
    """The 503 problem for a request cancelled at its deadline."""
    return unavailable(
        f"The request did not finish within {seconds:g} seconds and was cancelled. Retry shortly; "
        "a POST retried with the same Idempotency-Key is applied at most once.",
        type_="timeout", title="Request timed out",
    )


def problem(
    status: int,
    type_: str,
    title: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """A problem+json response."""
    body = {"type": PROBLEM_BASE + type_, "title": title, "status": status, "detail": detail, **extra}
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def render_problem(exc: DomainError) -> Response:
    """The problem response for a domain error (for middleware, which the app's handlers do not cover)."""
    return problem(exc.status, exc.type, exc.title, exc.detail, headers=exc.headers, **exc.extra)


def _validation_errors(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        errors.append({"field": ".".join(loc) or "body", "message": err.get("msg", "invalid"), "code": err.get("type")})
    if errors and errors[0]["code"] == "json_invalid":
        return "The request body is not valid JSON.", errors
    parts = [f"{e['field']}: {e['message']}" for e in errors[:5]]
    return "; ".join(parts) or "The request is invalid.", errors


def install_error_handlers(app: FastAPI) -> None:
    """Map every error the app can raise to a problem response; never leak internals."""

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> Response:
        return render_problem(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        detail, errors = _validation_errors(exc)
        if errors and errors[0]["code"] == "json_invalid":
            return problem(400, "malformed-json", "Malformed JSON", detail, errors=errors)
        return problem(422, "invalid-input", "Invalid input", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        titles = {404: "Not found", 405: "Method not allowed", 413: "Request body too large"}
        detail = exc.detail if isinstance(exc.detail, str) else "Request failed."
        if exc.status_code == 404 and detail == "Not Found":
            detail = "No such resource or route."
        slug = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large"}.get(exc.status_code, "http-error")
        return problem(exc.status_code, slug, titles.get(exc.status_code, "Error"), detail, headers=exc.headers)

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> Response:
        log.warning("integrity_error", error=str(exc.orig)[:200])
        return problem(409, "conflict", "Conflict", "The change conflicts with existing data; reload and retry.")

    @app.exception_handler(DataError)
    async def _data(_: Request, exc: DataError) -> Response:
        log.warning("data_error", error=str(exc.orig)[:200])
        return problem(422, "invalid-input", "Invalid input", "A value does not fit what the database can store.")

    async def _database(_: Request, exc: Exception) -> Response:
        if not is_unavailable(exc):
            raise exc  # a bug, not an outage: the catch-all below answers 500 and the server logs it
        orig = getattr(exc, "orig", None) or exc
        log.error("database_unavailable", error_type=type(orig).__name__, error=str(orig)[:200])
        return unavailable()

    # OperationalError and InterfaceError always mean "unavailable"; any other DBAPIError only when
    # it invalidated its connection; OSError covers raw socket errors and timeouts drivers let through.
    for exc_class in (OperationalError, InterfaceError, DBAPIError, PoolTimeout, OSError):
        app.add_exception_handler(exc_class, _database)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled_error", method=request.method,
                      route=getattr(request.scope.get("route"), "path", "unmatched"))
        return problem(500, "internal", "Internal error", "Something went wrong on our side; it has been logged.")


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem", "type": "object", "required": ["type", "title", "status", "detail"],
    "description": "RFC 9457 problem details; `type` is stable, `detail` is for people. Some carry more fields "
                   "(`errors` for invalid input, `retry_after` for rate limits).",
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
    "additionalProperties": True,
}


def document_problems(app: FastAPI) -> None:
    """Make the OpenAPI schema say what the API answers on errors: problem+json, for any 4xx."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        problem_ref = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status in [s for s in responses if s.startswith("4")]:
                    del responses[status]
                responses["4XX"] = {"description": "The request was refused (problem+json)", "content": problem_ref}
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
