"""Everything the app logs while users sign up, sign in and hand out credentials holds none of those secrets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
import structlog
from asgi_lifespan import LifespanManager

from orbitask.app import create_app
from orbitask.config import RegionConfig
from orbitask.core.observability import redact
from tests.conftest import PASSWORD, TEST_SECRET, make_settings

DSN_PASSWORD = "Dsn-Pa55word-9f3c"
REDIS_PASSWORD = "redis-pw-77ab"
HOP_SECRET = "hop-secret-" + "h" * 30


async def test_logs_hold_no_password_token_or_secret(tmp_path: Path, template_db: Path,
                                                     capfd: pytest.CaptureFixture[str]) -> None:
    shutil.copy(template_db, tmp_path / "orbitask.db")
    settings = make_settings(
        tmp_path, log_json=True, log_level="DEBUG", forward_secret=HOP_SECRET, writer_region="local",
        regions=[RegionConfig(name="local", internal_url="http://127.0.0.1:9",
                              reader_url=f"postgresql+psycopg://orbitask:{DSN_PASSWORD}@127.0.0.1:9/orbitask",
                              redis_url=f"redis://:{REDIS_PASSWORD}@127.0.0.1:9/0")],
    )
    secrets: list[str] = [PASSWORD, TEST_SECRET, DSN_PASSWORD, REDIS_PASSWORD, HOP_SECRET]
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            r = await c.post("/api/v1/auth/register", json={"email": "ann@example.com", "password": PASSWORD,
                                                            "name": "Ann"})
            assert r.status_code == 201, r.text
            r = await c.post("/api/v1/auth/login", json={"email": "ann@example.com", "password": PASSWORD})
            session = r.json()
            wrong = await c.post("/api/v1/auth/login", json={"email": "ann@example.com", "password": "Wr0ng-pass!"})
            assert wrong.status_code == 401
            secrets += [session["access_token"], session["refresh_token"], "Wr0ng-pass!"]
            auth = {"Authorization": f"Bearer {session['access_token']}"}
            r = await c.post("/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
            secrets += [r.json()["access_token"], r.json()["refresh_token"]]
            reused = await c.post("/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
            assert reused.status_code == 401  # reuse: the family is revoked (and logged as such, without the token)
            session = (await c.post("/api/v1/auth/login", json={"email": "ann@example.com",
                                                                 "password": PASSWORD})).json()
            secrets += [session["access_token"], session["refresh_token"]]
            auth = {"Authorization": f"Bearer {session['access_token']}"}
            token = (await c.post("/api/v1/me/api-tokens", json={"name": "ci"}, headers=auth)).json()["token"]
            secrets.append(token)
            assert (await c.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).status_code == 200
            ws = (await c.get("/api/v1/workspaces", headers=auth)).json()["items"][0]["id"]
            invite = (await c.post(f"/api/v1/workspaces/{ws}/invitations", json={"role": "member"},
                                   headers=auth)).json()["token"]
            secrets.append(invite)
            await c.post(f"/api/v1/invitations/{invite}x/accept", headers=auth)  # a wrong link: 404, logged
            ticket = (await c.post("/api/v1/ws/tickets", headers=auth)).json()["ticket"]
            secrets.append(ticket)
            feed = (await c.post("/api/v1/me/calendar-feed", headers=auth)).json()["url"]
            secrets.append(feed.rsplit("/", 1)[1].removesuffix(".ics"))
            await c.get(feed.replace("http://testserver", ""))
            await c.get("/api/v1/me", headers={"Authorization": f"Bearer {session['access_token']}broken"})
            cookie = await c.post("/api/v1/auth/login", json={"email": "ann@example.com", "password": PASSWORD,
                                                              "session": "cookie"})
            secrets += [v for v in cookie.cookies.values() if len(v) > 16]
            # a careless caller: secrets passed as fields, or inside messages and exception text
            log = structlog.get_logger("test")
            log.info("careless", password=PASSWORD, headers={"authorization": f"Bearer {token}"},
                     detail=f"connect to postgresql://orbitask:{DSN_PASSWORD}@db/orbitask failed")
            try:
                raise RuntimeError(f"upstream said no to ticket={ticket}")
            except RuntimeError:
                log.exception("careless_exception")
    out, err = capfd.readouterr()
    lines = [json.loads(line) for line in (out + err).splitlines() if line.startswith("{")]
    events = {line["event"] for line in lines}
    assert {"orbitask_started", "request", "careless", "careless_exception"} <= events, events
    assert all("request_id" in line for line in lines if line["event"] == "request")
    text = out + err
    leaked = [s[:12] + "..." for s in secrets if s and s in text]
    where = [line[:300] for line in text.splitlines() if any(s and s in line for s in secrets)]
    assert not leaked, f"secrets in the logs: {leaked} in {where}"
    careless = next(line for line in lines if line["event"] == "careless")
    assert "orbitask:***@db/orbitask" in careless["detail"]  # the DSN is shown, its password is not


@pytest.mark.parametrize(("raw", "shown"), [
    ("postgresql+psycopg://u:p4ss@h:5432/db", "postgresql+psycopg://u:***@h:5432/db"),
    ("redis://:pw@h:6379/0", "redis://:***@h:6379/0"),
    ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer ***"),
    ("/api/v1/invitations/AbC_123/accept", "/api/v1/invitations/***/accept"),
    ("/api/v1/calendar/tok3n.ics", "/api/v1/calendar/***.ics"),
    ("https://o.example/reset-password/Zx-9_q", "https://o.example/reset-password/***"),
    ("link /confirm-email/Zx-9_q and /verify/Ab_1", "link /confirm-email/*** and /verify/***"),
    ("/api/v1/ws?ticket=eyJx.eyJy.zz&x=1", "/api/v1/ws?ticket=***&x=1"),
    ("ot_0123abcd_secretpart", "ot_***"),
    ("plain words stay", "plain words stay"),
    ("jwt eyJhbGciOi.eyJzdWIi.c2ln in text", "jwt *** in text"),
    ("BASIC dXNlcjpwYXNz", "BASIC ***"),
    ("/x?Signature=abc&y=1", "/x?Signature=***&y=1"),
    ("/feeds?TOKEN=abc", "/feeds?TOKEN=***"),
    ("mysql+asyncmy://app:pw@db/x and eyJa.eyJb.c", "mysql+asyncmy://app:***@db/x and ***"),
])
def test_redact_masks_secrets_by_shape(raw: str, shown: str) -> None:
    assert redact(raw) == shown
