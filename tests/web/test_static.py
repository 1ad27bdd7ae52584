"""The server's side of the web app: bundle serving, SPA fallback, caching and security headers."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from orbitask.app import create_app
from orbitask.web.static import CSP
from tests.conftest import make_settings


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    """A tiny built bundle, shaped like Vite's output."""
    root = tmp_path / "bundle"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text('<!doctype html><script type="module" src="/assets/index-abc123.js"></script>')
    (root / "assets" / "index-abc123.js").write_text("console.log('app')")
    (root / "favicon.svg").write_text("<svg/>")
    return root


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, template_db: Path, web_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The whole app with `web_dir` as its bundle."""
    shutil.copy(template_db, tmp_path / "orbitask.db")
    app = create_app(make_settings(tmp_path, web_dir=web_dir))
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://test") as c:
            yield c


async def test_index_and_spa_routes_get_the_app_with_a_strict_csp(tmp_path: Path, template_db: Path, dist: Path) -> None:
    async with serving(tmp_path, template_db, dist) as client:
        for path in ("/", "/b/0190aaaa-0000-7000-8000-000000000000/c/x", "/signin", "/w/abc/members", "/index.html"):
            r = await client.get(path)
            assert r.status_code == 200, path
            assert r.headers["content-type"].startswith("text/html")
            assert "index-abc123.js" in r.text
            assert r.headers["cache-control"] == "no-cache"
            csp = r.headers["content-security-policy"]
            assert csp == CSP
            assert "script-src 'self';" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
            assert r.headers["x-content-type-options"] == "nosniff"


async def test_hashed_assets_are_cached_for_a_year_and_missing_ones_are_404(tmp_path: Path, template_db: Path, dist: Path) -> None:
    async with serving(tmp_path, template_db, dist) as client:
        r = await client.get("/assets/index-abc123.js")
        assert r.status_code == 200
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert "javascript" in r.headers["content-type"]
        stale = await client.get("/assets/index-old999.js")
        assert stale.status_code == 404 and "<script" not in stale.text  # never HTML where a script was asked
        assert (await client.get("/favicon.svg")).headers["cache-control"] == "public, max-age=3600"
        assert (await client.get("/assets/..%2F..%2F..%2Fetc%2Fpasswd")).status_code == 404


async def test_api_paths_never_fall_back_to_the_app(tmp_path: Path, template_db: Path, dist: Path) -> None:
    async with serving(tmp_path, template_db, dist) as client:
        for method in ("GET", "POST", "DELETE"):
            r = await client.request(method, "/api/v1/no-such-thing")
            assert r.status_code == 404, method
            assert r.headers["content-type"].startswith("application/problem+json")
            assert "index-abc123" not in r.text
        assert (await client.get("/api/v1/healthz")).json() == {"status": "ok"}
        assert (await client.get("/api/openapi.json")).status_code == 200
        assert (await client.post("/b/x")).status_code == 405


async def test_without_a_bundle_the_page_says_how_to_build_it(tmp_path: Path, template_db: Path) -> None:
    async with serving(tmp_path, template_db, tmp_path / "nothing") as client:
        r = await client.get("/")
        assert r.status_code == 503
        assert "make run" in r.text
        assert (await client.get("/api/v1/healthz")).status_code == 200
