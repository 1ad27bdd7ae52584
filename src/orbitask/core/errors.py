"""Domain errors and their problem+json (RFC 9457) rendering."""

from __future__ import annotations

from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
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
        return problem(exc.status, exc.type, exc.title, exc.detail, headers=exc.headers, **exc.extra)

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

    @app.exception_handler(OperationalError)
    async def _operational(_: Request, exc: OperationalError) -> Response:
        log.error("database_unavailable", error=str(exc.orig)[:200])
        return problem(
            503, "unavailable", "Service unavailable", "The database is unavailable; retry shortly.",
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled_error", path=request.url.path)
        return problem(500, "internal", "Internal error", "Something went wrong on our side; it has been logged.")
