"""Sessions (issue 24): each sign-in listed with its device, address and region, revoked one by one or all but
this one; a disabled account cannot sign in and its tokens stop at their next request. On each backend."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import select

from orbitask.app import create_app
from orbitask.auth import sessions
from orbitask.auth.sessions import describe_device
from orbitask.config import Settings
from orbitask.core.events import REGISTRY, Event
from tests.conftest import PASSWORD, assert_problem

V1 = "/api/v1"
CHROME_LINUX = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
SAFARI_IOS = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Version/17.5 Mobile/15E148 Safari/604.1")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def sign_in(client: httpx.AsyncClient, email: str, agent: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post(f"{V1}/auth/login", json={"email": email, "password": password},
                             headers={"User-Agent": agent})


async def new_account(client: httpx.AsyncClient) -> str:
    email = f"s-{uuid.uuid4().hex[:8]}@example.com"
    r = await client.post(f"{V1}/auth/register", json={"email": email, "password": PASSWORD, "name": "Sam"})
    assert r.status_code == 201, r.text
    return email


@pytest.mark.parametrize(("agent", "device"), [
    (CHROME_LINUX, "Chrome on Linux"), (SAFARI_IOS, "Safari on iOS"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Safari/537.36 Edg/131.0.0.0", "Edge on Windows"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on macOS"),
    ("curl/8.5.0", "curl"), ("", "Unknown device"), (None, "Unknown device"),
])
def test_a_user_agent_reads_as_a_device(agent: str | None, device: str) -> None:
    assert describe_device(agent) == device


async def test_sessions_are_listed_and_revoked_at_the_next_request(client: httpx.AsyncClient, app: Any) -> None:
    email = await new_account(client)
    laptop = (await sign_in(client, email, CHROME_LINUX)).json()
    phone = (await sign_in(client, email, SAFARI_IOS)).json()
    tablet = (await sign_in(client, email, SAFARI_IOS)).json()

    listed = (await client.get(f"{V1}/auth/sessions", headers=bearer(laptop["access_token"]))).json()
    assert len(listed) == 4  # the sign-up's own session too
    mine = {s["device"]: s for s in listed if s["current"]}
    assert list(mine) == ["Chrome on Linux"]
    region = app.state.runtime.settings.region
    assert all(s["ip"] == "127.0.0.1" and s["region"] == region for s in listed), listed
    assert sorted(s["device"] for s in listed if not s["current"]) == ["Safari on iOS", "Safari on iOS", "httpx"]
    phone_id = _family(app, phone)

    # a refresh moves "last seen" (a plain request does not)
    before = next(s["last_seen_at"] for s in listed if s["id"] == phone_id)
    assert (await client.get(f"{V1}/me", headers=bearer(phone["access_token"]))).status_code == 200
    refreshed = await client.post(f"{V1}/auth/refresh", json={"refresh_token": phone["refresh_token"]})
    assert refreshed.status_code == 200
    phone = refreshed.json()
    listed = (await client.get(f"{V1}/auth/sessions", headers=bearer(laptop["access_token"]))).json()
    assert next(s["last_seen_at"] for s in listed if s["id"] == phone_id) > before

    # another user cannot see or revoke it
    other = (await sign_in(client, await new_account(client), CHROME_LINUX)).json()
    r = await client.delete(f"{V1}/auth/sessions/{phone_id}", headers=bearer(other["access_token"]))
    assert_problem(r, 404, "not-found")
    assert (await client.get(f"{V1}/me", headers=bearer(phone["access_token"]))).status_code == 200

    r = await client.delete(f"{V1}/auth/sessions/{phone_id}", headers=bearer(laptop["access_token"]))
    assert r.status_code == 204
    assert_problem(await client.get(f"{V1}/me", headers=bearer(phone["access_token"])), 401)
    assert_problem(await client.post(f"{V1}/auth/refresh", json={"refresh_token": phone["refresh_token"]}), 401)
    assert (await client.get(f"{V1}/me", headers=bearer(tablet["access_token"]))).status_code == 200
    listed = (await client.get(f"{V1}/auth/sessions", headers=bearer(laptop["access_token"]))).json()
    assert phone_id not in {s["id"] for s in listed} and len(listed) == 3

    # all but this one
    r = await client.post(f"{V1}/auth/sessions/revoke-others", headers=bearer(laptop["access_token"]))
    assert r.status_code == 200 and r.json()["revoked"] >= 2
    assert_problem(await client.get(f"{V1}/me", headers=bearer(tablet["access_token"])), 401)
    assert_problem(await client.post(f"{V1}/auth/refresh", json={"refresh_token": tablet["refresh_token"]}), 401)
    assert (await client.get(f"{V1}/me", headers=bearer(laptop["access_token"]))).status_code == 200
    listed = (await client.get(f"{V1}/auth/sessions", headers=bearer(laptop["access_token"]))).json()
    assert [(s["device"], s["current"]) for s in listed] == [("Chrome on Linux", True)]
    assert (await client.get(f"{V1}/me", headers=bearer(other["access_token"]))).status_code == 200


def _family(app: Any, issued: dict[str, Any]) -> str:
    return str(app.state.runtime.tokens.verify(issued["access_token"])["fam"])


async def test_a_disabled_account_is_refused_everywhere_at_once(client: httpx.AsyncClient, app: Any) -> None:
    rt = app.state.runtime
    email = await new_account(client)
    session = (await sign_in(client, email, CHROME_LINUX)).json()
    api_token = (await client.post(f"{V1}/me/api-tokens", json={"name": "ci"},
                                   headers=bearer(session["access_token"]))).json()["token"]
    assert (await client.get(f"{V1}/me", headers=bearer(api_token))).status_code == 200

    assert await sessions.set_active(rt.uow(), rt, email.upper(), active=False) is not None

    # /workspaces, not /me: /me reads the account and would refuse a disabled one by itself
    assert_problem(await client.get(f"{V1}/workspaces", headers=bearer(session["access_token"])), 401)
    assert_problem(await client.get(f"{V1}/workspaces", headers=bearer(api_token)), 401)
    assert_problem(await client.post(f"{V1}/auth/refresh", json={"refresh_token": session["refresh_token"]}), 401)
    # signing in answers exactly as a wrong password does: nobody learns the account exists
    disabled = await sign_in(client, email, CHROME_LINUX)
    wrong = await sign_in(client, await new_account(client), CHROME_LINUX, password="not-the-password")
    assert disabled.status_code == wrong.status_code == 401
    assert (disabled.json()["type"], disabled.json()["detail"]) == (wrong.json()["type"], wrong.json()["detail"])

    await sessions.set_active(rt.uow(), rt, email, active=True)
    assert (await sign_in(client, email, CHROME_LINUX)).status_code == 200
    assert await sessions.set_active(rt.uow(), rt, "nobody@example.com", active=False) is None


async def test_a_revocation_reaches_another_region_through_the_event_log(
    client: httpx.AsyncClient, app: Any, settings: Settings
) -> None:
    """Another region (its own process and revocation list, the same data) refuses the revoked session's access
    token once its relay has the `user.signed_out` event: nothing but the event log tells it."""
    email = await new_account(client)
    laptop = (await sign_in(client, email, CHROME_LINUX)).json()
    phone = (await sign_in(client, email, SAFARI_IOS)).json()
    elsewhere = create_app(settings.model_copy(update={"region": "eu"}))
    async with LifespanManager(elsewhere), httpx.AsyncClient(transport=httpx.ASGITransport(app=elsewhere),
                                                             base_url="http://eu") as eu:
        assert (await eu.get(f"{V1}/workspaces", headers=bearer(phone["access_token"]))).status_code == 200
        r = await client.delete(f"{V1}/auth/sessions/{_family(app, phone)}", headers=bearer(laptop["access_token"]))
        assert r.status_code == 204
        deadline = time.monotonic() + 30
        while (await eu.get(f"{V1}/workspaces", headers=bearer(phone["access_token"]))).status_code == 200:
            assert time.monotonic() < deadline, "the other region still accepts the revoked session's access token"
            await asyncio.sleep(0.02)  # polling: the relay tails the log every 20 ms
        assert (await eu.get(f"{V1}/workspaces", headers=bearer(laptop["access_token"]))).status_code == 200

    async with app.state.runtime.db.read_session() as session:
        [event] = (await session.scalars(select(Event).where(Event.type == "user.signed_out"))).all()
    assert REGISTRY[event.type].model_validate(event.payload) == sessions.SignedOut(
        user_id=app.state.runtime.tokens.verify(phone["access_token"])["sub"],
        session_ids=[uuid.UUID(_family(app, phone))])
