"""Security headers on every answer, CORS only for configured origins."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from orbitask.app import create_app
from orbitask.config import Settings
from tests.conftest import make_settings

ORIGIN = "https://tasks.example.com"


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
