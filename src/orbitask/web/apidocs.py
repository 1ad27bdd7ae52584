"""The interactive API docs at /api/docs: Swagger UI from the web app's own build, no third-party script.

FastAPI's built-in page loads an unpinned Swagger UI from a CDN with no integrity check. Ours is a second
entry of the web app's Vite build (web/api-docs.html, web/src/apidocs.ts, swagger-ui-dist pinned in
web/package-lock.json): it loads only its own hashed assets and /api/openapi.json, so it runs under the
web app's CSP (no inline script, nothing from another host).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse, Response

from orbitask.core.errors import problem
from orbitask.web.static import SECURITY_HEADERS, default_web_dir

DOCS_PATH = "/api/docs"
PAGE = "api-docs.html"
NOT_BUILT = (
    "The API docs page is built with the web app, which is not built: run `make web` "
    "(or `cd web && npm ci && npm run build`), or point ORBITASK_WEB_DIR at a built bundle. "
    "The schema itself is at /api/openapi.json."
)
RETRY_AFTER_S = 30


def install(app: FastAPI, web_dir: Path | None) -> None:
    """Answer GET /api/docs with the built Swagger UI page of `web_dir` (default: web/dist of the checkout)."""
    page = (web_dir or default_web_dir()).resolve() / PAGE

    async def api_docs() -> Response:
        """Swagger UI for this server's OpenAPI schema."""
        if not page.is_file():
            return problem(503, "web-app-not-built", "Web app not built", NOT_BUILT,
                           headers={"Retry-After": str(RETRY_AFTER_S)})
        # the page names its hashed assets: revalidate it so a rebuilt bundle is picked up
        return FileResponse(page, media_type="text/html", headers={"Cache-Control": "no-cache", **SECURITY_HEADERS})

    app.add_api_route(DOCS_PATH, api_docs, methods=["GET"], include_in_schema=False)
