"""An invitation link before and through sign-up: a public preview (names only), and an account made through
the link joins the invited workspace in the same transaction, with no empty workspace of its own."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from orbitask.auth.models import Invitation
from orbitask.auth.models import User as UserRow
from tests.conftest import PASSWORD, Api
from tests.conftest import assert_problem as problem_of

V1 = "/api/v1"
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"])  # no SQL of its own: the join is the accept's


async def invite(api: Api, who: Any, **fields: Any) -> dict[str, Any]:
    return (await api.call(who, "POST", f"/workspaces/{who.workspace_id}/invitations", json=fields, expect=201)).json()


async def register(client: httpx.AsyncClient, name: str, **fields: Any) -> httpx.Response:
    email = f"{name.lower()}-{uuid.uuid4().hex[:6]}@example.com"
    return await client.post(f"{V1}/auth/register", json={"email": email, "password": PASSWORD, "name": name, **fields})


@sqlite_only
async def test_the_preview_names_the_workspace_and_the_inviter_only(api: Api, app: Any, client: httpx.AsyncClient) -> None:
    olga = await api.user("Olga")
    await api.ok(olga, "PATCH", f"/workspaces/{olga.workspace_id}", json={"name": "Launch team"})
    inv = await invite(api, olga, role="admin", email="someone@example.com", max_uses=1)
    r = await client.get(f"{V1}/invitations/{inv['token']}")  # no credentials at all
    assert r.status_code == 200, r.text
    assert r.json() == {"workspace_name": "Launch team", "inviter_name": "Olga"}

    used = await invite(api, olga, max_uses=1)
    expired = await invite(api, olga)
    revoked = await invite(api, olga)
    await api.call(await api.user("Bob"), "POST", f"/invitations/{used['token']}/accept", expect=200)
    session = app.state.runtime.db.writer_session()
    async with session.begin():
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        await session.execute(update(Invitation).where(Invitation.id == uuid.UUID(expired["id"])).values(expires_at=past))
        await session.execute(update(Invitation).where(Invitation.id == uuid.UUID(revoked["id"])).values(revoked_at=past))
    await session.close()
    for token in (used["token"], expired["token"], revoked["token"], "garbage", inv["token"][:-1]):
        body = problem_of(await client.get(f"{V1}/invitations/{token}"), 404, "not-found")
        assert "Launch team" not in body["detail"] and "Olga" not in body["detail"]


@sqlite_only
async def test_invitation_lookups_are_rate_limited_per_address(api: Api, app: Any) -> None:
    olga = await api.user("Olga")
    inv = await invite(api, olga)
    limit = app.state.runtime.settings.rate_limit_login_ip_per_minute  # shared with sign-in attempts' bound

    def client_at(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")

    async with client_at("10.0.0.7") as guesser, client_at("10.0.0.8") as other:
        for _ in range(limit):
            assert (await guesser.get(f"{V1}/invitations/guess-{uuid.uuid4().hex}")).status_code == 404
        problem_of(await guesser.get(f"{V1}/invitations/{inv['token']}"), 429, "rate-limited")
        assert (await other.get(f"{V1}/invitations/{inv['token']}")).status_code == 200


@sqlite_only
async def test_signing_up_through_an_invitation_joins_it_without_a_personal_workspace(
    api: Api, app: Any, client: httpx.AsyncClient
) -> None:
    olga = await api.user("Olga")
    inv = await invite(api, olga, role="member", max_uses=1)
    r = await register(client, "Ivy", invitation=inv["token"])
    assert r.status_code == 201, r.text
    headers = {"Authorization": f"Bearer {r.json()['access_token']}", "X-Orbitask-Token": r.headers["X-Orbitask-Token"]}
    workspaces = (await client.get(f"{V1}/workspaces", headers=headers)).json()["items"]
    assert [(w["id"], w["role"]) for w in workspaces] == [(str(olga.workspace_id), "member")]
    # the link is used up by that sign-up; opening it again still leads the new member to the workspace
    accepted = await client.post(f"{V1}/invitations/{inv['token']}/accept", headers=headers)
    assert accepted.status_code == 200 and accepted.json()["workspace"]["id"] == str(olga.workspace_id)
    problem_of(await client.get(f"{V1}/invitations/{inv['token']}"), 404, "not-found")

    # a link that cannot be used makes no account at all: the address is still free afterwards
    refused = await register(client, "Zed", invitation=inv["token"])
    assert "used up" in problem_of(refused, 404, "not-found")["detail"]
    email = refused.request.content.decode().split('"email":"', 1)[1].split('"', 1)[0]
    async with app.state.runtime.db.read_session(on_writer=True) as session:
        assert await session.scalar(select(UserRow.id).where(UserRow.email == email)) is None
    bound = await invite(api, olga, email="named@example.com")
    wrong = await client.post(f"{V1}/auth/register", json={
        "email": "other@example.com", "password": PASSWORD, "name": "Other", "invitation": bound["token"]})
    problem_of(wrong, 404, "not-found")
    assert (await register(client, "Zed")).status_code == 201  # without the link: a personal workspace as before
