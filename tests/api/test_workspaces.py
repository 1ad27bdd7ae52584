"""Workspaces, members and invitation links through the HTTP API, as their users would."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any

import httpx
from sqlalchemy import func, select, update

from orbitask.auth.models import Invitation, Workspace, WorkspaceMember
from orbitask.core.events import REGISTRY, Event
from tests.conftest import Api, User
from tests.conftest import assert_problem as problem_of


def token_seq(r: httpx.Response) -> int:
    """The event sequence an X-Orbitask-Token names (asserting the header is there)."""
    raw = r.headers.get("x-orbitask-token")
    assert raw, f"{r.request.method} {r.request.url} has no X-Orbitask-Token"
    prefix, seq, _ = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode().split(":")
    assert prefix == "v1"
    return int(seq)


async def workspace_events(app: Any, workspace_id: Any) -> list[Event]:
    """The outbox rows of one workspace, each payload checked against its registered schema."""
    async with app.state.runtime.db.read_session(on_writer=True) as session:
        rows = (await session.execute(
            select(Event).where(Event.workspace_id == uuid.UUID(str(workspace_id))).order_by(Event.seq)
        )).scalars().all()
    for row in rows:
        REGISTRY[row.type].model_validate(row.payload)
    return list(rows)


async def count(app: Any, model: Any, *where: Any) -> int:
    async with app.state.runtime.db.read_session(on_writer=True) as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where)) or 0


async def invite(api: Api, who: User, workspace_id: Any, **fields: Any) -> dict[str, Any]:
    r = await api.call(who, "POST", f"/workspaces/{workspace_id}/invitations", json=fields, expect=201)
    return r.json()


async def make_team(api: Api) -> tuple[User, User, User, User, User]:
    """Owner Olga's workspace with admin Adam, member Mia, guest Gus, and outsider Otto."""
    olga = await api.user("Olga")
    adam, mia, gus, otto = [await api.user(n) for n in ("Adam", "Mia", "Gus", "Otto")]
    await api.join(olga, adam, "admin")
    await api.join(olga, mia, "member")
    await api.join(olga, gus, "guest")
    return olga, adam, mia, gus, otto


async def roles(api: Api, who: User, workspace_id: Any) -> dict[str, str]:
    members = await api.ok(who, "GET", f"/workspaces/{workspace_id}/members")
    return {m["user"]["name"]: m["role"] for m in members}


# --- workspaces -------------------------------------------------------------------------------


async def test_create_and_get_a_workspace(api: Api, app: Any) -> None:
    olga = await api.user("Olga")
    r = await api.call(olga, "POST", "/workspaces", json={"name": "  Launch  ", "description": "Q3"}, expect=201)
    created = r.json()
    assert created["name"] == "Launch"  # trimmed
    assert created["description"] == "Q3"
    assert created["role"] == "owner"
    token_seq(r)

    got = await api.ok(olga, "GET", f"/workspaces/{created['id']}")
    assert got == created
    assert await roles(api, olga, created["id"]) == {"Olga": "owner"}
    assert [e.type for e in await workspace_events(app, created["id"])] == ["workspace.created"]
    (event,) = await workspace_events(app, created["id"])
    assert event.actor_id == olga.id
    assert event.payload == {"workspace_id": created["id"], "name": "Launch"}


async def test_create_workspace_validates_input(api: Api, app: Any) -> None:
    olga = await api.user("Olga")
    before = await count(app, Workspace)
    for payload in ({}, {"name": ""}, {"name": "   "}, {"name": "n" * 101}, {"name": 5},
                    {"name": "ok", "description": "d" * 2001}, {"name": "ok", "owner": str(olga.id)}):
        problem_of(await api.call(olga, "POST", "/workspaces", json=payload), 422, "invalid-input")
    assert await count(app, Workspace) == before


async def test_list_workspaces_pages_with_a_cursor(api: Api) -> None:
    olga = await api.user("Olga")
    made = [(await api.ok(olga, "POST", "/workspaces", json={"name": f"WS {i}"}))["id"] for i in range(3)]
    expected = [str(olga.workspace_id), *made]  # oldest first

    seen: list[str] = []
    pages = 0
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = await api.ok(olga, "GET", "/workspaces", params=params)
        pages += 1
        assert len(page["items"]) <= 2
        assert all(w["role"] == "owner" for w in page["items"])
        seen += [w["id"] for w in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 10
    assert seen == expected
    assert pages == 2

    everything = await api.ok(olga, "GET", "/workspaces")
    assert [w["id"] for w in everything["items"]] == expected and everything["next_cursor"] is None


async def test_list_workspaces_shows_only_mine_with_my_role(api: Api) -> None:
    olga, adam, mia, gus, otto = await make_team(api)
    page = await api.ok(gus, "GET", "/workspaces")
    assert {(w["id"], w["role"]) for w in page["items"]} == {(str(gus.workspace_id), "owner"),
                                                           (str(olga.workspace_id), "guest")}
    assert [w["id"] for w in (await api.ok(otto, "GET", "/workspaces"))["items"]] == [str(otto.workspace_id)]


async def test_list_workspaces_refuses_bad_cursors_and_limits(api: Api) -> None:
    olga = await api.user("Olga")
    for cursor in ("garbage", "!!!", "AAAA", "é", "x" * 500):
        body = problem_of(await api.call(olga, "GET", "/workspaces", params={"cursor": cursor}), 422, "invalid-input")
        assert "cursor" in body["detail"]
    for limit in (0, -1, 201, "ten"):
        problem_of(await api.call(olga, "GET", "/workspaces", params={"limit": limit}), 422, "invalid-input")


async def test_admins_update_a_workspace_members_and_guests_cannot(api: Api, app: Any) -> None:
    olga, adam, mia, gus, _ = await make_team(api)
    ws = olga.workspace_id
    r = await api.call(adam, "PATCH", f"/workspaces/{ws}", json={"name": "Renamed"}, expect=200)
    assert r.json()["name"] == "Renamed" and r.json()["role"] == "admin"
    assert r.json()["description"] == ""
    token_seq(r)
    r = await api.call(olga, "PATCH", f"/workspaces/{ws}", json={"description": "All hands"}, expect=200)
    assert r.json() == {**r.json(), "name": "Renamed", "description": "All hands", "role": "owner"}

    for who in (mia, gus):
        problem_of(await api.call(who, "PATCH", f"/workspaces/{ws}", json={"name": "Hijacked"}), 403, "forbidden")
    problem_of(await api.call(olga, "PATCH", f"/workspaces/{ws}", json={"name": ""}), 422, "invalid-input")
    problem_of(await api.call(olga, "PATCH", f"/workspaces/{ws}", json={"role": "x"}), 422, "invalid-input")
    assert (await api.ok(mia, "GET", f"/workspaces/{ws}"))["name"] == "Renamed"

    updates = [e for e in await workspace_events(app, ws) if e.type == "workspace.updated"]
    assert [e.payload["changes"] for e in updates] == [{"name": "Renamed"}, {"description": "All hands"}]
    assert [e.actor_id for e in updates] == [adam.id, olga.id]


async def test_only_owners_delete_a_workspace_and_it_takes_everything_along(api: Api, app: Any) -> None:
    olga, adam, mia, gus, _ = await make_team(api)
    ws = olga.workspace_id
    board = await api.board(olga)
    lst = await api.list(olga, board["id"])
    await api.card(olga, lst["id"])
    await invite(api, olga, ws)
    for who in (adam, mia, gus):
        problem_of(await api.call(who, "DELETE", f"/workspaces/{ws}"), 403, "forbidden")
    assert (await api.ok(olga, "GET", f"/workspaces/{ws}"))["id"] == str(ws)

    r = await api.call(olga, "DELETE", f"/workspaces/{ws}", expect=204)
    assert r.content == b""
    token_seq(r)
    for who in (olga, adam, mia, gus):
        problem_of(await api.call(who, "GET", f"/workspaces/{ws}"), 404, "not-found")
    problem_of(await api.call(olga, "GET", f"/boards/{board['id']}"), 404, "not-found")
    assert await count(app, WorkspaceMember, WorkspaceMember.workspace_id == ws) == 0
    assert await count(app, Invitation, Invitation.workspace_id == ws) == 0
    assert (await workspace_events(app, ws))[-1].type == "workspace.deleted"
    # Olga's account is fine; she just has no workspace left.
    assert (await api.ok(olga, "GET", "/workspaces"))["items"] == []
    problem_of(await api.call(olga, "DELETE", f"/workspaces/{ws}"), 404, "not-found")


# --- members and invitations ------------------------------------------------------------------


async def test_an_invitation_link_adds_whoever_accepts_it(api: Api, app: Any) -> None:
    olga, bob = await api.user("Olga"), await api.user("Bob")
    inv = await invite(api, olga, olga.workspace_id, role="member")
    # the link is built from the configured public URL, never from the request's Host header
    assert inv["token"] and inv["url"] == f"{app.state.runtime.settings.public_url}/invite/{inv['token']}"
    assert inv["workspace_id"] == str(olga.workspace_id) and inv["role"] == "member"
    assert inv["uses"] == 0 and inv["max_uses"] is None and inv["email"] is None
    expires = dt.datetime.fromisoformat(inv["expires_at"])
    ttl = app.state.runtime.settings.invitation_ttl_seconds
    assert abs((expires - dt.datetime.now(dt.UTC)).total_seconds() - ttl) < 60

    r = await api.call(bob, "POST", f"/invitations/{inv['token']}/accept", expect=200)
    token_seq(r)
    accepted = r.json()
    assert accepted["role"] == "member"
    assert accepted["workspace"]["id"] == str(olga.workspace_id) and accepted["workspace"]["role"] == "member"
    assert (await api.ok(bob, "GET", f"/workspaces/{olga.workspace_id}"))["role"] == "member"
    members = await api.ok(bob, "GET", f"/workspaces/{olga.workspace_id}/members")
    assert [(m["user"]["id"], m["role"]) for m in members] == [(str(olga.id), "owner"), (str(bob.id), "member")]
    assert members[1]["user"] == {"id": str(bob.id), "name": "Bob", "email": bob.email}

    added = [e for e in await workspace_events(app, olga.workspace_id) if e.type == "workspace.member_added"]
    assert [e.payload for e in added] == [
        {"workspace_id": str(olga.workspace_id), "user_id": str(bob.id), "role": "member"}
    ]
    assert added[0].actor_id == bob.id


async def test_accepting_again_keeps_the_higher_role_and_does_not_use_up_the_link(api: Api, app: Any) -> None:
    olga, bob = await api.user("Olga"), await api.user("Bob")
    guest_link = await invite(api, olga, olga.workspace_id, role="guest", max_uses=2)
    member_link = await invite(api, olga, olga.workspace_id, role="member")
    assert (await api.ok(bob, "POST", f"/invitations/{guest_link['token']}/accept"))["role"] == "guest"
    assert (await api.ok(bob, "POST", f"/invitations/{member_link['token']}/accept"))["role"] == "member"
    assert (await api.ok(bob, "POST", f"/invitations/{guest_link['token']}/accept"))["role"] == "member"
    assert (await api.ok(olga, "POST", f"/invitations/{guest_link['token']}/accept"))["role"] == "owner"
    assert (await roles(api, olga, olga.workspace_id)) == {"Olga": "owner", "Bob": "member"}
    async with app.state.runtime.db.read_session() as session:
        uses = await session.scalar(select(Invitation.uses).where(Invitation.id == uuid.UUID(guest_link["id"])))
    assert uses == 1
    types = [e.type for e in await workspace_events(app, olga.workspace_id)]
    assert types == ["workspace.created", "workspace.member_added", "workspace.member_updated"]


async def test_owner_promotes_a_member_to_admin(api: Api, app: Any) -> None:
    olga, adam, mia, gus, _ = await make_team(api)
    ws = olga.workspace_id
    r = await api.call(olga, "PATCH", f"/workspaces/{ws}/members/{mia.id}", json={"role": "admin"}, expect=200)
    assert r.json()["role"] == "admin" and r.json()["user"]["id"] == str(mia.id)
    token_seq(r)
    assert (await api.ok(mia, "GET", f"/workspaces/{ws}"))["role"] == "admin"
    # As an admin, Mia may now manage members.
    await api.call(mia, "PATCH", f"/workspaces/{ws}/members/{gus.id}", json={"role": "member"}, expect=200)
    assert await roles(api, olga, ws) == {"Olga": "owner", "Adam": "admin", "Mia": "admin", "Gus": "member"}
    updated = [e for e in await workspace_events(app, ws) if e.type == "workspace.member_updated"]
    assert [(e.payload["user_id"], e.payload["role"], e.actor_id) for e in updated] == [
        (str(mia.id), "admin", olga.id), (str(gus.id), "member", mia.id)
    ]


async def test_only_owners_grant_or_take_ownership(api: Api) -> None:
    olga, adam, mia, gus, _ = await make_team(api)
    ws = olga.workspace_id
    before = await roles(api, olga, ws)
    problem_of(await api.call(adam, "PATCH", f"/workspaces/{ws}/members/{mia.id}", json={"role": "owner"}),
               403, "forbidden")
    problem_of(await api.call(adam, "PATCH", f"/workspaces/{ws}/members/{adam.id}", json={"role": "owner"}),
               403, "forbidden")
    problem_of(await api.call(adam, "PATCH", f"/workspaces/{ws}/members/{olga.id}", json={"role": "member"}),
               403, "forbidden")
    problem_of(await api.call(adam, "DELETE", f"/workspaces/{ws}/members/{olga.id}"), 403, "forbidden")
    assert await roles(api, olga, ws) == before

    await api.call(olga, "PATCH", f"/workspaces/{ws}/members/{adam.id}", json={"role": "owner"}, expect=200)
    assert (await roles(api, olga, ws))["Adam"] == "owner"


async def test_members_and_guests_cannot_manage_members(api: Api) -> None:
    olga, adam, mia, gus, _ = await make_team(api)
    ws = olga.workspace_id
    before = await roles(api, olga, ws)
    for who in (mia, gus):
        problem_of(await api.call(who, "PATCH", f"/workspaces/{ws}/members/{gus.id}", json={"role": "member"}),
                   403, "forbidden")
        problem_of(await api.call(who, "PATCH", f"/workspaces/{ws}/members/{who.id}", json={"role": "admin"}),
                   403, "forbidden")
        problem_of(await api.call(who, "DELETE", f"/workspaces/{ws}/members/{adam.id}"), 403, "forbidden")
    assert await roles(api, olga, ws) == before
    problem_of(await api.call(olga, "PATCH", f"/workspaces/{ws}/members/{mia.id}", json={"role": "boss"}),
               422, "invalid-input")
    problem_of(await api.call(olga, "PATCH", f"/workspaces/{ws}/members/{uuid.uuid4()}", json={"role": "admin"}),
               404, "not-found")


async def test_the_last_owner_cannot_be_demoted_or_removed(api: Api, app: Any) -> None:
    olga, adam, *_ = await make_team(api)
    ws = olga.workspace_id
    problem_of(await api.call(olga, "PATCH", f"/workspaces/{ws}/members/{olga.id}", json={"role": "admin"}),
               409, "conflict")
    problem_of(await api.call(olga, "DELETE", f"/workspaces/{ws}/members/{olga.id}"), 409, "conflict")
    assert (await roles(api, olga, ws))["Olga"] == "owner"

    # With a second owner, the first may step down.
    await api.call(olga, "PATCH", f"/workspaces/{ws}/members/{adam.id}", json={"role": "owner"}, expect=200)
    await api.call(olga, "PATCH", f"/workspaces/{ws}/members/{olga.id}", json={"role": "member"}, expect=200)
    problem_of(await api.call(adam, "DELETE", f"/workspaces/{ws}/members/{adam.id}"), 409, "conflict")
    assert await count(app, WorkspaceMember, WorkspaceMember.workspace_id == ws,
                       WorkspaceMember.role == "owner") == 1


async def test_a_member_can_leave(api: Api, app: Any) -> None:
    olga, adam, mia, gus, _ = await make_team(api)
    ws = olga.workspace_id
    for who in (gus, mia):
        r = await api.call(who, "DELETE", f"/workspaces/{ws}/members/{who.id}", expect=204)
        token_seq(r)
        problem_of(await api.call(who, "GET", f"/workspaces/{ws}"), 404, "not-found")
    assert await roles(api, olga, ws) == {"Olga": "owner", "Adam": "admin"}
    removed = [e for e in await workspace_events(app, ws) if e.type == "workspace.member_removed"]
    assert [(e.payload["user_id"], e.actor_id) for e in removed] == [(str(gus.id), gus.id), (str(mia.id), mia.id)]


async def test_removing_a_member_hides_the_workspace_and_its_boards(api: Api) -> None:
    olga, adam, mia, gus, _ = await make_team(api)
    ws = olga.workspace_id
    board = await api.board(olga)
    assert (await api.ok(mia, "GET", f"/boards/{board['id']}"))["board"]["id"] == board["id"]

    await api.call(adam, "DELETE", f"/workspaces/{ws}/members/{mia.id}", expect=204)
    problem_of(await api.call(mia, "GET", f"/workspaces/{ws}"), 404, "not-found")
    problem_of(await api.call(mia, "GET", f"/workspaces/{ws}/members"), 404, "not-found")
    problem_of(await api.call(mia, "GET", f"/boards/{board['id']}"), 404, "not-found")
    assert str(ws) not in {w["id"] for w in (await api.ok(mia, "GET", "/workspaces"))["items"]}
    problem_of(await api.call(adam, "DELETE", f"/workspaces/{ws}/members/{mia.id}"), 404, "not-found")


async def test_expired_and_garbage_invitation_links_are_404(api: Api, app: Any) -> None:
    olga, bob = await api.user("Olga"), await api.user("Bob")
    inv = await invite(api, olga, olga.workspace_id)
    session = app.state.runtime.db.writer_session()
    async with session.begin():
        await session.execute(
            update(Invitation).where(Invitation.id == uuid.UUID(inv["id"]))
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    await session.close()
    assert "expired" in problem_of(await api.call(bob, "POST", f"/invitations/{inv['token']}/accept"),
                                   404, "not-found")["detail"]
    for garbage in ("garbage", "x" * 300, inv["token"][:-1]):
        problem_of(await api.call(bob, "POST", f"/invitations/{garbage}/accept"), 404, "not-found")
    problem_of(await api.call(bob, "GET", f"/workspaces/{olga.workspace_id}"), 404, "not-found")
    assert await roles(api, olga, olga.workspace_id) == {"Olga": "owner"}


async def test_accepting_needs_a_signed_in_user(api: Api, client: httpx.AsyncClient) -> None:
    olga = await api.user("Olga")
    inv = await invite(api, olga, olga.workspace_id)
    problem_of(await client.post(f"/api/v1/invitations/{inv['token']}/accept"), 401, "unauthorized")


async def test_an_invitation_honours_max_uses(api: Api, app: Any) -> None:
    olga = await api.user("Olga")
    bob, carol, dave = [await api.user(n) for n in ("Bob", "Carol", "Dave")]
    inv = await invite(api, olga, olga.workspace_id, role="guest", max_uses=2)
    assert inv["max_uses"] == 2
    for who in (bob, carol):
        await api.call(who, "POST", f"/invitations/{inv['token']}/accept", expect=200)
    body = problem_of(await api.call(dave, "POST", f"/invitations/{inv['token']}/accept"), 404, "not-found")
    assert "used up" in body["detail"]
    assert await roles(api, olga, olga.workspace_id) == {"Olga": "owner", "Bob": "guest", "Carol": "guest"}
    for payload in ({"max_uses": 0}, {"max_uses": 1001}, {"expires_in_days": 0}, {"expires_in_days": 91},
                    {"role": "owner"}, {"role": "boss"}, {"email": "not-an-email"}, {"uses": 5}):
        problem_of(await api.call(olga, "POST", f"/workspaces/{olga.workspace_id}/invitations", json=payload),
                   422, "invalid-input")
    assert await count(app, Invitation, Invitation.workspace_id == olga.workspace_id) == 1


async def test_an_email_bound_invitation_refuses_anyone_else(api: Api) -> None:
    olga, bob, eve = await api.user("Olga"), await api.user("Bob"), await api.user("Eve")
    inv = await invite(api, olga, olga.workspace_id, email=bob.email.upper(), role="admin")
    assert inv["email"] == bob.email.lower()
    problem_of(await api.call(eve, "POST", f"/invitations/{inv['token']}/accept"), 404, "not-found")
    problem_of(await api.call(eve, "GET", f"/workspaces/{olga.workspace_id}"), 404, "not-found")
    accepted = await api.ok(bob, "POST", f"/invitations/{inv['token']}/accept")
    assert accepted["role"] == "admin"
    assert await roles(api, olga, olga.workspace_id) == {"Olga": "owner", "Bob": "admin"}


async def test_who_may_create_invitations(api: Api, app: Any) -> None:
    olga, adam, mia, gus, otto = await make_team(api)
    ws = olga.workspace_id
    before = await count(app, Invitation, Invitation.workspace_id == ws)
    for who in (mia, gus):
        problem_of(await api.call(who, "POST", f"/workspaces/{ws}/invitations", json={}), 403, "forbidden")
    body = problem_of(await api.call(adam, "POST", f"/workspaces/{ws}/invitations", json={"role": "admin"}),
                      403, "forbidden")
    assert "owner" in body["detail"]
    assert await count(app, Invitation, Invitation.workspace_id == ws) == before

    r = await api.call(adam, "POST", f"/workspaces/{ws}/invitations", json={"role": "member"}, expect=201)
    token_seq(r)
    owner_link = await invite(api, olga, ws, role="admin")
    await api.call(otto, "POST", f"/invitations/{owner_link['token']}/accept", expect=200)
    assert (await roles(api, olga, ws))["Otto"] == "admin"


# --- outsiders and guests ---------------------------------------------------------------------


async def test_outsiders_get_404_not_403(api: Api, app: Any) -> None:
    olga, adam, mia, gus, otto = await make_team(api)
    ws = olga.workspace_id
    before = await roles(api, olga, ws)
    links_before = await count(app, Invitation, Invitation.workspace_id == ws)
    for ws_id in (ws, uuid.uuid4()):
        for method, path, body in (
            ("GET", f"/workspaces/{ws_id}", None),
            ("PATCH", f"/workspaces/{ws_id}", {"name": "Mine now"}),
            ("DELETE", f"/workspaces/{ws_id}", None),
            ("GET", f"/workspaces/{ws_id}/members", None),
            ("PATCH", f"/workspaces/{ws_id}/members/{mia.id}", {"role": "guest"}),
            ("PATCH", f"/workspaces/{ws_id}/members/{otto.id}", {"role": "owner"}),
            ("DELETE", f"/workspaces/{ws_id}/members/{mia.id}", None),
            ("POST", f"/workspaces/{ws_id}/invitations", {"role": "member"}),
            ("POST", f"/workspaces/{ws_id}/boards", {"name": "Sneaky"}),
            ("GET", f"/workspaces/{ws_id}/boards", None),
        ):
            r = await api.call(otto, method, path, json=body)
            body_ = problem_of(r, 404, "not-found")
            assert "role" not in body_["detail"]
    assert await roles(api, olga, ws) == before
    assert (await api.ok(olga, "GET", f"/workspaces/{ws}"))["name"] == "Olga's workspace"
    assert await count(app, Invitation, Invitation.workspace_id == ws) == links_before
    assert (await api.ok(olga, "GET", f"/workspaces/{ws}/boards"))["items"] == []
    problem_of(await api.call(otto, "GET", "/workspaces/not-a-uuid"), 422, "invalid-input")


async def test_a_guest_can_look_but_not_create_boards(api: Api, app: Any) -> None:
    olga, adam, mia, gus, _ = await make_team(api)
    ws = olga.workspace_id
    got = await api.ok(gus, "GET", f"/workspaces/{ws}")
    assert got["role"] == "guest" and got["name"] == "Olga's workspace"
    assert len(await api.ok(gus, "GET", f"/workspaces/{ws}/members")) == 4
    events_before = len(await workspace_events(app, ws))
    problem_of(await api.call(gus, "POST", f"/workspaces/{ws}/boards", json={"name": "Mine"}), 403, "forbidden")
    assert len(await workspace_events(app, ws)) == events_before
    board = await api.ok(mia, "POST", f"/workspaces/{ws}/boards", json={"name": "Team"})
    assert board["name"] == "Team"


# --- consistency tokens and the outbox --------------------------------------------------------


async def test_every_write_carries_a_newer_consistency_token(api: Api) -> None:
    olga, bob = await api.user("Olga"), await api.user("Bob")
    seqs = []
    r = await api.call(olga, "POST", "/workspaces", json={"name": "Tokens"}, expect=201)
    seqs.append(token_seq(r))
    ws = r.json()["id"]
    seqs.append(token_seq(await api.call(olga, "PATCH", f"/workspaces/{ws}", json={"name": "T2"}, expect=200)))
    inv = await api.call(olga, "POST", f"/workspaces/{ws}/invitations", json={"role": "guest"}, expect=201)
    assert token_seq(inv) == seqs[-1]  # no event of its own: names the newest one
    seqs.append(token_seq(await api.call(bob, "POST", f"/invitations/{inv.json()['token']}/accept", expect=200)))
    seqs.append(token_seq(await api.call(olga, "PATCH", f"/workspaces/{ws}/members/{bob.id}",
                                         json={"role": "member"}, expect=200)))
    seqs.append(token_seq(await api.call(olga, "DELETE", f"/workspaces/{ws}/members/{bob.id}", expect=204)))
    seqs.append(token_seq(await api.call(olga, "DELETE", f"/workspaces/{ws}", expect=204)))
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)

    # A read that presents the newest token sees its own write.
    r = await api.call(olga, "GET", f"/workspaces/{olga.workspace_id}",
                       headers={"X-Orbitask-Token": (await api.call(
                           olga, "PATCH", f"/workspaces/{olga.workspace_id}", json={"name": "Fresh"}, expect=200
                       )).headers["x-orbitask-token"]}, expect=200)
    assert r.json()["name"] == "Fresh"


async def test_the_workspace_story_is_in_the_outbox(api: Api, app: Any) -> None:
    olga, bob = await api.user("Olga"), await api.user("Bob")
    ws = (await api.ok(olga, "POST", "/workspaces", json={"name": "Story"}))["id"]
    await api.ok(olga, "PATCH", f"/workspaces/{ws}", json={"description": "told in events"})
    await api.join(olga, bob, "guest", workspace_id=ws)
    await api.ok(olga, "PATCH", f"/workspaces/{ws}/members/{bob.id}", json={"role": "admin"})
    await api.ok(bob, "DELETE", f"/workspaces/{ws}/members/{bob.id}")
    await api.ok(olga, "DELETE", f"/workspaces/{ws}")

    events = await workspace_events(app, ws)
    assert [(e.type, e.actor_id) for e in events] == [
        ("workspace.created", olga.id),
        ("workspace.updated", olga.id),
        ("workspace.member_added", bob.id),
        ("workspace.member_updated", olga.id),
        ("workspace.member_removed", bob.id),
        ("workspace.deleted", olga.id),
    ]
    region = app.state.runtime.settings.region
    assert all(e.region == region and e.board_id is None and e.board_version is None for e in events)
    assert events[2].payload == {"workspace_id": ws, "user_id": str(bob.id), "role": "guest"}
    assert events[3].payload == {"workspace_id": ws, "user_id": str(bob.id), "role": "admin"}
    assert events[5].payload == {"workspace_id": ws}
