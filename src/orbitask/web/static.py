"""Serve the built web app: hashed assets cached for a year, SPA routes answered with index.html.

Mounted last, under `/`, so every API route wins. Paths under `/api/` never fall back to the app:
an unknown API path answers 404 problem+json as before, whatever the method.
"""

from __future__ import annotations

from pathlib import Path

from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

# The app has no inline script or style and talks only to its own origin (HTTP and WebSocket).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
IMMUTABLE = "public, max-age=31536000, immutable"
NOT_BUILT = (
    "The web app is not built. Run `make run` (it builds web/ with npm and serves it), "
    "or `cd web && npm ci && npm run build`, or point ORBITASK_WEB_DIR at a built bundle.\n"
)


def default_web_dir() -> Path:
    """web/dist of the source checkout this package runs from."""
    return Path(__file__).resolve().parents[3] / "web" / "dist"


class WebApp:
    """ASGI app for everything that is not an API route."""

    def __init__(self, root: Path | None) -> None:
        self.root = (root or default_web_dir()).resolve()

    def _file(self, rel: str) -> Path | None:
        if not rel or rel.startswith("."):
            return None
        candidate = (self.root / rel).resolve()
        if candidate.is_relative_to(self.root) and candidate.is_file():
            return candidate
        return None

    def response(self, method: str, path: str) -> Response:
        """The answer for one request path."""
        if path == "/api" or path.startswith("/api/"):
            return JSONResponse(
                {"type": "about:blank", "title": "Not Found", "status": 404, "detail": f"No API route {path}."},
                status_code=404, media_type="application/problem+json",
            )
        if method not in ("GET", "HEAD"):
            return PlainTextResponse("Method Not Allowed", status_code=405, headers={"Allow": "GET, HEAD"})
        rel = path.lstrip("/")
        if rel.startswith("assets/"):
            found = self._file(rel)
            if found is None:  # a stale hashed name: never answer with the HTML page
                return PlainTextResponse("Not Found", status_code=404)
            return FileResponse(found, headers={"Cache-Control": IMMUTABLE, **SECURITY_HEADERS})
        found = self._file(rel) if rel != "index.html" else None
        if found is not None:
            return FileResponse(found, headers={"Cache-Control": "public, max-age=3600", **SECURITY_HEADERS})
        index = self.root / "index.html"
        if not index.is_file():
            return PlainTextResponse(NOT_BUILT, status_code=503, headers={"Retry-After": "30"})
        return FileResponse(index, media_type="text/html",
                            headers={"Cache-Control": "no-cache", **SECURITY_HEADERS})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # no socket lives outside /api/v1/ws
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] == "http":
            await self.response(scope["method"], scope["path"])(scope, receive, send)
