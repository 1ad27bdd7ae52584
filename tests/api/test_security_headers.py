"""Security headers on every answer, CORS only for configured origins, API docs from our own build."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from orbitask.app import create_app
from orbitask.config import Settings
from orbitask.web.static import CSP
from tests.conftest import make_settings
from tests.e2e.browser import require_bundle

ORIGIN = "https://tasks.example.com"
REFERENCE = re.compile(r"""<(script|link)\b[^>]*?\b(?:src|href)=["']?([^"' >]+)""")
NESTED = re.compile(r"/assets/[\w.-]+")


@pytest.fixture
async def http(tmp_path: Path, template_db: Path) -> AsyncIterator[httpx.AsyncClient]:
    shutil.copy(template_db, tmp_path / "orbitask.db")
    app = create_app(make_settings(tmp_path, cors_origins=[ORIGIN]))
    async with LifespanManager(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            yield client


@pytest.mark.parametrize("path", ["/api/v1/healthz", "/api/v1/me", "/api/v1/nope", "/metrics"])
async def test_every_answer_carries_the_security_headers(http: httpx.AsyncClient, path: str) -> None:
    r = await http.get(path)
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert "strict-transport-security" not in r.headers  # plain HTTP: HSTS would be ignored anyway
    # API answers, errors included, are never kept by a browser or proxy cache (see test_sessions_hardening.py)
    assert r.headers.get("cache-control") == ("no-store" if path.startswith("/api/v1/") else None)


async def test_hsts_behind_tls(tmp_path: Path, template_db: Path) -> None:
    shutil.copy(template_db, tmp_path / "orbitask.db")
    app = create_app(make_settings(tmp_path))
    async with LifespanManager(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://test") as client:
            r = await client.get("/api/v1/healthz")
    assert r.headers["strict-transport-security"].startswith("max-age=31536000")


async def test_cors_answers_configured_origins_only(http: httpx.AsyncClient) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "Idempotency-Key"}
    ok = await http.options("/api/v1/auth/login", headers={"Origin": ORIGIN, **preflight})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == ORIGIN
    assert ok.headers["access-control-allow-credentials"] == "true"
    other = await http.options("/api/v1/auth/login", headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in other.headers
    simple = await http.get("/api/v1/healthz", headers={"Origin": ORIGIN})
    assert "X-Orbitask-Token" in simple.headers["access-control-expose-headers"]


def test_a_wildcard_origin_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be"):
        Settings(cors_origins="*")


async def test_the_api_docs_page_loads_only_its_own_files(http: httpx.AsyncClient) -> None:
    require_bundle()  # the page is built with the web app (`make web`)
    r = await http.get("/api/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "//" not in r.text, "an absolute or protocol-relative URL: another host"
    refs = REFERENCE.findall(r.text)
    assert {"script", "link"} <= {tag for tag, _ in refs}, r.text
    pending, fetched = [ref for _, ref in refs], set()
    while pending:  # and what those files load in turn: the page's script loads Swagger UI's bundle
        ref = pending.pop()
        assert ref.startswith("/") and not ref.startswith("//"), f"{ref} is on another host"
        asset = await http.get(ref)
        assert asset.status_code == 200, ref
        fetched.add(ref)
        if ref.endswith((".js", ".css")):
            pending += [found for found in NESTED.findall(asset.text) if found not in fetched]
    assert any("swagger-ui" in ref for ref in fetched), fetched
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", r.text), "an inline script"
    assert r.headers["content-security-policy"] == CSP  # the web app's: script-src 'self', nothing inline


async def test_unbuilt_api_docs_say_how_to_build_them(tmp_path: Path, template_db: Path) -> None:
    shutil.copy(template_db, tmp_path / "orbitask.db")
    app = create_app(make_settings(tmp_path, web_dir=tmp_path / "nothing"))
    async with LifespanManager(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            r = await client.get("/api/docs")
    assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
    assert "make web" in r.json()["detail"] and r.headers["retry-after"]
    assert "default-src 'none'" in r.headers["content-security-policy"]
