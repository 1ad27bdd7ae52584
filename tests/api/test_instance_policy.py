"""The instance's sign-up policy (ORBITASK_SIGNUP_POLICY) and its administrator, the first account (issue 24)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from orbitask.auth import instance
from orbitask.config import Settings
from tests.conftest import BACKENDS, PASSWORD, assert_problem, make_settings

V1 = "/api/v1"


async def sign_up(client: httpx.AsyncClient, email: str, **extra: Any) -> httpx.Response:
    return await client.post(f"{V1}/auth/register", json={"email": email, "password": PASSWORD, "name": "Ann",
                                                           **extra})


async def me(client: httpx.AsyncClient, r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 201, r.text
    got = await client.get(f"{V1}/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    return got.json()  # type: ignore[no-any-return]


def address(domain: str = "example.com") -> str:
    return f"a-{uuid.uuid4().hex[:8]}@{domain}"


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    marker = request.node.get_closest_marker("settings")
    return settings.model_copy(update=marker.kwargs) if marker else settings


@pytest.mark.settings(signup_policy="invite-only")
async def test_invite_only_admits_the_first_account_then_only_invitations(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"{V1}/instance")).json() == {"signup_policy": "invite-only"}
    first = await sign_up(client, address())
    admin = await me(client, first)
    assert admin["is_admin"] is True
    headers = {"Authorization": f"Bearer {first.json()['access_token']}"}

    # refused alike for a free and a taken address: the answer tells nothing about accounts
    for email in (address(), admin["email"]):
        body = assert_problem(await sign_up(client, email), 403, "signup-closed")
        assert "invitation" in body["detail"]
    assert_problem(await sign_up(client, address(), invitation="not-a-real-one"), 403, "signup-closed")

    workspace = (await client.get(f"{V1}/workspaces", headers=headers)).json()["items"][0]["id"]
    inv = (await client.post(f"{V1}/workspaces/{workspace}/invitations", json={"role": "member", "max_uses": 1},
                             headers=headers)).json()
    invited = await me(client, await sign_up(client, address(), invitation=inv["token"]))
    assert invited["is_admin"] is False
    # its one use is spent
    assert_problem(await sign_up(client, address(), invitation=inv["token"]), 403, "signup-closed")


@pytest.mark.settings(signup_policy="domains", signup_domains=["example.com", "corp.example.net"])
async def test_domains_admit_only_their_addresses(client: httpx.AsyncClient, tmp_path: Path) -> None:
    as_set = make_settings(tmp_path, signup_policy="domains", signup_domains="Example.com, @corp.example.net")
    assert as_set.signup_domains == ["example.com", "corp.example.net"]  # ORBITASK_SIGNUP_DOMAINS's form
    with pytest.raises(ValidationError, match="SIGNUP_DOMAINS"):
        make_settings(tmp_path, signup_policy="domains")
    assert (await client.get(f"{V1}/instance")).json() == {
        "signup_policy": "domains", "signup_domains": ["example.com", "corp.example.net"]}
    assert (await me(client, await sign_up(client, address("elsewhere.org"))))["is_admin"] is True  # the first
    assert (await sign_up(client, address("EXAMPLE.com"))).status_code == 201
    assert (await sign_up(client, address("corp.example.net"))).status_code == 201
    for domain in ("elsewhere.org", "mail.example.com", "example.com.evil.org"):
        assert_problem(await sign_up(client, address(domain)), 403, "signup-domain-not-allowed")


async def test_open_sign_up_makes_only_the_first_account_admin(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"{V1}/instance")).json() == {"signup_policy": "open"}
    assert (await me(client, await sign_up(client, address())))["is_admin"] is True
    assert (await me(client, await sign_up(client, address())))["is_admin"] is False


# SQLite runs one write transaction at a time: the race needs a server
@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "sqlite"], indirect=True)
@pytest.mark.settings(signup_policy="invite-only")
async def test_two_first_sign_ups_at_once_make_one_admin(client: httpx.AsyncClient,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Both transactions decide they are first before either commits; the database lets one claim it."""
    both_decided = asyncio.Barrier(2)
    claim = instance.claim_first_account

    async def claim_after_both_decided(uow: Any, user: Any, *, first: bool) -> None:
        if first:
            await asyncio.wait_for(both_decided.wait(), 30)
        await claim(uow, user, first=first)

    monkeypatch.setattr(instance, "claim_first_account", claim_after_both_decided)
    answers = await asyncio.gather(sign_up(client, address()), sign_up(client, address()))
    assert sorted(r.status_code for r in answers) == [201, 403], [r.text for r in answers]
    winner = next(r for r in answers if r.status_code == 201)
    assert (await me(client, winner))["is_admin"] is True
