"""The audit log: security events recorded with the change, apart from activity, read by owners and admins."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from orbitask.audit.models import AuditEntry
from orbitask.core.events import Event
from tests.conftest import PASSWORD, Api, User, assert_problem


async def audit(api: Api, who: User, ws: Any = None, **params: Any) -> list[dict[str, Any]]:
    page = await api.ok(who, "GET", f"/workspaces/{ws or who.workspace_id}/audit", params=params)
    return page["items"]


async def test_security_events_are_recorded_and_readable_by_owners_and_admins(api: Api, app: Any) -> None:
    alice = await api.user("Alice")
    admin, bob, mallory = await api.user("Adam"), await api.user("Bob"), await api.user("Mallory")
    await api.join(alice, admin, "admin")
    await api.join(alice, bob, "member")
    await api.ok(admin, "PATCH", f"/workspaces/{alice.workspace_id}/members/{bob.id}", json={"role": "guest"})
    board = await api.board(alice, name="Plans")
    await api.ok(alice, "POST", f"/boards/{board['id']}/members", json={"user_id": str(bob.id), "role": "viewer"})
    await api.ok(alice, "PATCH", f"/boards/{board['id']}", json={"visibility": "private"})
    await api.call(alice, "GET", f"/boards/{board['id']}/export", params={"format": "csv"}, expect=200)
    await api.call(admin, "DELETE", f"/workspaces/{alice.workspace_id}/members/{bob.id}", expect=204)

    entries = await audit(api, alice)
    actions = [e["action"] for e in entries]
    assert actions == [  # newest first
        "member.removed", "export.board", "board.visibility_changed", "board.member_added",
        "member.role_changed", "member.joined", "invitation.created", "member.joined", "invitation.created",
    ], actions
    changed = entries[4]
    assert (changed["actor_id"], changed["target_id"]) == (str(admin.id), str(bob.id))
    assert changed["detail"] == {"old": "member", "new": "guest"}
    assert entries[0]["ip"] and entries[0]["request_id"] and entries[0]["region"] == "local"
    assert entries[1]["detail"]["format"] == "csv"
    assert [e["action"] for e in await audit(api, admin, alice.workspace_id)] == actions  # admins too

    # filters: action (exact or prefix), actor, time; cursor pagination
    assert [e["action"] for e in await audit(api, alice, action="member.")] == [
        "member.removed", "member.role_changed", "member.joined", "member.joined"]
    assert {e["action"] for e in await audit(api, alice, actor_id=str(admin.id))} == {
        "member.removed", "member.role_changed", "member.joined"}
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)).isoformat()
    assert await audit(api, alice, since=later) == []
    assert len(await audit(api, alice, until=later)) == len(actions)
    first = await api.ok(alice, "GET", f"/workspaces/{alice.workspace_id}/audit", params={"limit": 4})
    second = await api.ok(alice, "GET", f"/workspaces/{alice.workspace_id}/audit",
                          params={"limit": 10, "cursor": first["next_cursor"]})
    assert [e["id"] for e in first["items"] + second["items"]] == [e["id"] for e in entries]
    assert second["next_cursor"] is None

    # members and guests may not read it; outsiders do not see the workspace
    await api.join(alice, bob, "member")
    assert_problem(await api.call(bob, "GET", f"/workspaces/{alice.workspace_id}/audit"), 403, "forbidden")
    assert_problem(await api.call(mallory, "GET", f"/workspaces/{alice.workspace_id}/audit"), 404, "not-found")

    # kept apart from activity: none of these rows is in the event outbox
    async with app.state.runtime.db.read_session(on_writer=True) as s:
        types = set(await s.scalars(select(Event.type)))
    assert not types & {"member.removed", "export.board", "login.succeeded", "api_token.created"}


async def test_sign_ins_and_api_tokens_are_audited_without_secrets(api: Api, app: Any) -> None:
    alice = await api.user("Alice")
    await api.call(None, "POST", "/auth/login", json={"email": alice.email, "password": "not-her-password"},
                   expect=401)
    await api.call(None, "POST", "/auth/login", json={"email": "nobody@example.com", "password": PASSWORD},
                   expect=401)
    await api.call(None, "POST", "/auth/login", json={"email": alice.email, "password": PASSWORD}, expect=200)
    token = await api.ok(alice, "POST", "/me/api-tokens", json={"name": "ci"})
    await api.call(alice, "DELETE", f"/me/api-tokens/{token['id']}", expect=204)
    async with app.state.runtime.db.read_session(on_writer=True) as s:
        rows = list(await s.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    got = [(r.action, r.detail.get("reason")) for r in rows if r.workspace_id is None]
    assert got == [("instance.admin_assigned", "first account"),  # Alice signed up first on this instance
                   ("login.failed", "wrong password"), ("login.failed", "unknown e-mail"),
                   ("login.succeeded", None), ("api_token.created", None), ("api_token.revoked", None)]
    assert rows[-1].target_id == token["id"] and rows[-1].actor_id == alice.id
    text = repr([(r.detail, r.target_id) for r in rows])
    assert token["token"] not in text and PASSWORD not in text and "not-her-password" not in text


async def test_an_audited_change_that_fails_leaves_no_entry(api: Api, app: Any) -> None:
    alice = await api.user("Alice")
    # the last owner cannot step down: the refused change writes no audit entry either (same transaction)
    r = await api.call(alice, "PATCH", f"/workspaces/{alice.workspace_id}/members/{alice.id}", json={"role": "admin"})
    assert_problem(r, 409)
    async with app.state.runtime.db.read_session(on_writer=True) as s:
        count = await s.scalar(select(func.count()).select_from(AuditEntry)
                               .where(AuditEntry.action == "member.role_changed"))
    assert count == 0
