"""Who may do what: outsiders get 404 for everything, board roles get 403 above their rank."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import Api, User, assert_problem


@dataclass
class World:
    """Alice's board with one of everything on it."""

    alice: User
    board: dict[str, Any]
    list: dict[str, Any]
    card: dict[str, Any]
    label: dict[str, Any]
    comment: dict[str, Any]
    checklist: dict[str, Any]
    item: dict[str, Any]

    def ids(self, me: User) -> dict[str, str]:
        return {
            "board": self.board["id"], "list": self.list["id"], "card": self.card["id"],
            "label": self.label["id"], "comment": self.comment["id"], "checklist": self.checklist["id"],
            "item": self.item["id"], "alice": str(self.alice.id), "me": str(me.id), "ws": str(self.alice.workspace_id),
        }


async def build_world(api: Api) -> World:
    alice = await api.user("Alice")
    board = await api.board(alice, name="Alice's board")
    todo = await api.list(alice, board["id"], "To do")
    label = await api.ok(alice, "POST", f"/boards/{board['id']}/labels", json={"name": "bug", "color": "red"})
    card = await api.card(alice, todo["id"], "Secret plan", assignee_ids=[str(alice.id)], label_ids=[label["id"]])
    comment = await api.ok(alice, "POST", f"/cards/{card['id']}/comments", json={"body": "alice was here"})
    checklist = await api.ok(alice, "POST", f"/cards/{card['id']}/checklists", json={"title": "Steps"})
    item = await api.ok(alice, "POST", f"/checklists/{checklist['id']}/items", json={"text": "step one"})
    return World(alice, board, todo, card, label, comment, checklist, item)


async def fingerprint(api: Api, world: World) -> str:
    """Everything a failed request might have changed, as seen by the board's admin."""
    snap = await api.ok(world.alice, "GET", f"/boards/{world.board['id']}")
    card = await api.ok(world.alice, "GET", f"/cards/{world.card['id']}")
    comments = await api.ok(world.alice, "GET", f"/cards/{world.card['id']}/comments")
    members = await api.ok(world.alice, "GET", f"/workspaces/{world.alice.workspace_id}/members")
    return json.dumps([snap, card, comments, sorted((m["user"]["id"], m["role"]) for m in members)], sort_keys=True)


# kind: what the request needs —
#   read     any board role
#   comment  commenter and up
#   write    editor and up
#   admin    board admin
#   author   the comment's author (alice) — or, for deletes, a board admin
ROUTES: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("GET", "/boards/{board}", None, "read"),
    ("PATCH", "/boards/{board}", {"name": "Hijacked"}, "write"),
    ("PATCH", "/boards/{board}", {"visibility": "private"}, "admin"),
    ("PATCH", "/boards/{board}", {"archived": True}, "admin"),
    ("DELETE", "/boards/{board}", None, "admin"),
    ("GET", "/boards/{board}/events", None, "read"),
    ("GET", "/boards/{board}/events?after_version=2", None, "read"),
    ("GET", "/boards/{board}/members", None, "read"),
    ("POST", "/boards/{board}/members", {"user_id": "{me}", "role": "admin"}, "admin"),
    ("PATCH", "/boards/{board}/members/{alice}", {"role": "viewer"}, "admin"),
    ("DELETE", "/boards/{board}/members/{alice}", None, "admin"),
    ("POST", "/boards/{board}/lists", {"name": "Mine now"}, "write"),
    ("POST", "/boards/{board}/labels", {"name": "x", "color": "blue"}, "write"),
    ("GET", "/boards/{board}/cards", None, "read"),
    ("GET", "/boards/{board}/cards?q=secret", None, "read"),
    ("PATCH", "/lists/{list}", {"name": "Renamed"}, "write"),
    ("PATCH", "/lists/{list}", {"archived": True}, "write"),
    ("DELETE", "/lists/{list}", None, "write"),
    ("POST", "/lists/{list}/move", {}, "write"),
    ("POST", "/lists/{list}/cards", {"title": "Injected"}, "write"),
    ("GET", "/cards/{card}", None, "read"),
    ("PATCH", "/cards/{card}", {"title": "Hijacked"}, "write"),
    ("PATCH", "/cards/{card}", {"completed": True}, "write"),
    ("DELETE", "/cards/{card}", None, "write"),
    ("POST", "/cards/{card}/move", {"list_id": "{list}"}, "write"),
    ("POST", "/cards/{card}/assignees/{me}", None, "write"),
    ("DELETE", "/cards/{card}/assignees/{alice}", None, "write"),
    ("POST", "/cards/{card}/labels/{label}", None, "write"),
    ("DELETE", "/cards/{card}/labels/{label}", None, "write"),
    ("GET", "/cards/{card}/comments", None, "read"),
    ("POST", "/cards/{card}/comments", {"body": "hello"}, "comment"),
    ("POST", "/cards/{card}/checklists", {"title": "More"}, "write"),
    ("GET", "/cards/{card}/activity", None, "read"),
    ("PATCH", "/labels/{label}", {"name": "renamed"}, "write"),
    ("DELETE", "/labels/{label}", None, "write"),
    ("PATCH", "/comments/{comment}", {"body": "edited"}, "author"),
    ("DELETE", "/comments/{comment}", None, "author"),
    ("POST", "/checklists/{checklist}/items", {"text": "more"}, "write"),
    ("PATCH", "/checklist-items/{item}", {"done": True}, "write"),
    ("PATCH", "/checklist-items/{item}", {"text": "changed"}, "write"),
    ("DELETE", "/checklist-items/{item}", None, "write"),
    ("GET", "/boards/{board}/trash", None, "write"),
    ("GET", "/boards/{board}/archive", None, "read"),
    ("POST", "/cards/{card}/restore", None, "write"),
    ("POST", "/lists/{list}/restore", None, "write"),
]
ROUTE_IDS = [f"{m} {p}" + (f" {sorted(b)}" if b else "") for m, p, b, _ in ROUTES]

RANK = {"viewer": 1, "commenter": 2, "editor": 3, "admin": 4}
NEEDS = {"read": 1, "comment": 2, "write": 3, "admin": 4, "author": 99}


def fill(template: Any, ids: dict[str, str]) -> Any:
    """The template with {placeholders} replaced (in paths and in JSON bodies)."""
    if template is None:
        return None
    text = json.dumps(template) if not isinstance(template, str) else template
    for key, value in ids.items():
        text = text.replace("{" + key + "}", value)
    return text if isinstance(template, str) else json.loads(text)


async def request(api: Api, who: User | None, world: World, me: User, method: str, path: str,
                  body: dict[str, Any] | None, **override: str) -> Any:
    ids = {**world.ids(me), **override}
    kw = {"json": fill(body, ids)} if body is not None else {}
    return await api.call(who, method, fill(path, ids), **kw)


# --- outsiders: 404, never 403 ----------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body", "kind"), ROUTES, ids=ROUTE_IDS)
async def test_outsider_gets_404_for_everything(api: Api, method: str, path: str, body: Any, kind: str) -> None:
    world = await build_world(api)
    mallory = await api.user("Mallory")  # registered, but in another workspace
    before = await fingerprint(api, world)

    r = await request(api, mallory, world, mallory, method, path, body)
    problem = assert_problem(r, 404, "not-found")

    # indistinguishable from asking about something that does not exist
    first = path.split("{", 1)[1].split("}", 1)[0]
    r = await request(api, mallory, world, mallory, method, path, body, **{first: str(uuid.uuid4())})
    missing = assert_problem(r, 404, "not-found")
    assert (problem["title"], problem["detail"]) == (missing["title"], missing["detail"])
    assert "alice" not in r.text.lower() and world.card["title"] not in r.text

    assert await fingerprint(api, world) == before


async def test_outsider_cannot_see_or_add_to_the_workspace(api: Api) -> None:
    world = await build_world(api)
    mallory = await api.user("Mallory")
    ws = world.alice.workspace_id
    assert_problem(await api.call(mallory, "GET", f"/workspaces/{ws}/boards"), 404, "not-found")
    assert_problem(await api.call(mallory, "POST", f"/workspaces/{ws}/boards", json={"name": "x"}), 404, "not-found")
    assert (await api.ok(mallory, "GET", "/me/tasks"))["items"] == []
    assert [b["id"] for b in (await api.ok(world.alice, "GET", f"/workspaces/{ws}/boards"))["items"]] == [
        world.board["id"]]


# --- board roles ------------------------------------------------------------------------------


async def member_with_role(api: Api, world: World, role: str) -> User:
    """A user whose effective role on the board is `role`."""
    if role == "editor":  # a plain workspace member: editor on every workspace-visible board
        user = await api.user("Member")
        await api.join(world.alice, user, "member")
    else:  # a workspace guest (invited by link) added to the board with that role
        user = await api.user(role.title())
        await api.join(world.alice, user, "guest")
        await api.ok(world.alice, "POST", f"/boards/{world.board['id']}/members",
                     json={"user_id": str(user.id), "role": role})
    snap = await api.ok(user, "GET", f"/boards/{world.board['id']}")
    assert snap["role"] == role
    return user


@pytest.mark.parametrize("role", ["viewer", "commenter", "editor"])
@pytest.mark.parametrize(("method", "path", "body", "kind"), ROUTES, ids=ROUTE_IDS)
async def test_board_roles_are_enforced(api: Api, role: str, method: str, path: str, body: Any, kind: str) -> None:
    world = await build_world(api)
    user = await member_with_role(api, world, role)
    if RANK[role] >= NEEDS[kind]:
        r = await request(api, user, world, user, method, path, body)
        assert r.status_code < 300, f"{role} {method} {path}: {r.status_code} {r.text}"
        return
    before = await fingerprint(api, world)
    r = await request(api, user, world, user, method, path, body)
    assert_problem(r, 403, "forbidden")
    assert await fingerprint(api, world) == before


async def test_guest_editor_added_to_the_board_can_edit_cards(api: Api) -> None:
    world = await build_world(api)
    guest = await api.user("Guest")
    await api.join(world.alice, guest, "guest")
    await api.ok(world.alice, "POST", f"/boards/{world.board['id']}/members",
                 json={"user_id": str(guest.id), "role": "editor"})
    card = await api.ok(guest, "PATCH", f"/cards/{world.card['id']}", json={"title": "Edited by guest"})
    assert card["title"] == "Edited by guest"
    assert_problem(await api.call(guest, "PATCH", f"/boards/{world.board['id']}", json={"visibility": "private"}),
                   403, "forbidden")


async def test_viewer_reads_everything_but_cannot_write_or_comment(api: Api) -> None:
    world = await build_world(api)
    viewer = await member_with_role(api, world, "viewer")
    snap = await api.ok(viewer, "GET", f"/boards/{world.board['id']}")
    assert [c["title"] for c in snap["cards"]] == ["Secret plan"]
    card = await api.ok(viewer, "GET", f"/cards/{world.card['id']}")
    assert card["checklists"][0]["items"][0]["text"] == "step one"
    comments = await api.ok(viewer, "GET", f"/cards/{world.card['id']}/comments")
    assert [c["body"] for c in comments["items"]] == ["alice was here"]
    assert len(await api.events(viewer, world.board["id"])) == snap["version"]
    assert len(await api.ok(viewer, "GET", f"/cards/{world.card['id']}/activity")) > 0

    before = await fingerprint(api, world)
    r = await api.call(viewer, "POST", f"/cards/{world.card['id']}/comments", json={"body": "can I?"})
    assert "viewer" in assert_problem(r, 403, "forbidden")["detail"]
    assert_problem(await api.call(viewer, "POST", f"/cards/{world.card['id']}/move",
                                  json={"list_id": world.list["id"]}), 403, "forbidden")
    assert await fingerprint(api, world) == before


async def test_commenter_can_discuss_but_not_edit(api: Api) -> None:
    world = await build_world(api)
    commenter = await member_with_role(api, world, "commenter")
    mine = await api.ok(commenter, "POST", f"/cards/{world.card['id']}/comments", json={"body": "my two cents"})
    edited = await api.ok(commenter, "PATCH", f"/comments/{mine['id']}", json={"body": "my three cents"})
    assert edited["body"] == "my three cents"
    await api.call(commenter, "DELETE", f"/comments/{mine['id']}", expect=204)

    before = await fingerprint(api, world)
    assert_problem(await api.call(commenter, "PATCH", f"/cards/{world.card['id']}", json={"title": "x"}),
                   403, "forbidden")
    assert_problem(await api.call(commenter, "PATCH", f"/comments/{world.comment['id']}", json={"body": "x"}),
                   403, "forbidden")
    assert_problem(await api.call(commenter, "DELETE", f"/comments/{world.comment['id']}"), 403, "forbidden")
    assert_problem(await api.call(commenter, "PATCH", f"/checklist-items/{world.item['id']}", json={"done": True}),
                   403, "forbidden")
    assert await fingerprint(api, world) == before


async def test_editor_edits_cards_but_not_visibility_or_members(api: Api) -> None:
    world = await build_world(api)
    editor = await member_with_role(api, world, "editor")
    bystander = await api.user("Bystander")
    bid = world.board["id"]
    await api.ok(editor, "PATCH", f"/cards/{world.card['id']}", json={"title": "Better plan"})
    renamed = await api.ok(editor, "PATCH", f"/boards/{bid}", json={"name": "Renamed by editor", "color": "pink"})
    assert renamed["name"] == "Renamed by editor"

    before = await fingerprint(api, world)
    for method, path, body in (
        ("PATCH", f"/boards/{bid}", {"visibility": "private"}),
        ("PATCH", f"/boards/{bid}", {"name": "sneaky", "archived": True}),  # mixed: refused as a whole
        ("DELETE", f"/boards/{bid}", None),
        ("POST", f"/boards/{bid}/members", {"user_id": str(bystander.id), "role": "viewer"}),
        ("POST", f"/boards/{bid}/members", {"user_id": str(editor.id), "role": "admin"}),
        ("PATCH", f"/boards/{bid}/members/{world.alice.id}", {"role": "viewer"}),
        ("DELETE", f"/boards/{bid}/members/{world.alice.id}", None),
        ("DELETE", f"/comments/{world.comment['id']}", None),
    ):
        r = await api.call(editor, method, path, **({"json": body} if body is not None else {}))
        assert_problem(r, 403, "forbidden")
    assert await fingerprint(api, world) == before
    # the bystander was not dragged into the workspace by the refused request
    assert_problem(await api.call(bystander, "GET", f"/boards/{bid}"), 404)


async def test_board_admin_may_delete_others_comments_but_not_edit_them(api: Api) -> None:
    world = await build_world(api)
    editor = await member_with_role(api, world, "editor")
    theirs = await api.ok(editor, "POST", f"/cards/{world.card['id']}/comments", json={"body": "editor's"})
    assert_problem(await api.call(world.alice, "PATCH", f"/comments/{theirs['id']}", json={"body": "x"}), 403)
    await api.call(world.alice, "DELETE", f"/comments/{theirs['id']}", expect=204)


# --- workspace roles and visibility -----------------------------------------------------------


async def test_workspace_guest_sees_only_boards_they_were_added_to(api: Api) -> None:
    world = await build_world(api)
    other = await api.board(world.alice, name="Other team")
    other_list = await api.list(world.alice, other["id"])
    other_card = await api.card(world.alice, other_list["id"], "Other card")
    guest = await api.user("Guest")
    await api.join(world.alice, guest, "guest")
    await api.ok(world.alice, "POST", f"/boards/{world.board['id']}/members",
                 json={"user_id": str(guest.id), "role": "viewer"})
    invited = await api.user("Invited")
    await api.join(world.alice, invited, "guest")

    ws = world.alice.workspace_id
    page = await api.ok(guest, "GET", f"/workspaces/{ws}/boards")
    assert [(b["id"], b["role"]) for b in page["items"]] == [(world.board["id"], "viewer")]
    assert (await api.ok(invited, "GET", f"/workspaces/{ws}/boards"))["items"] == []

    for who in (guest, invited):
        for path in (f"/boards/{other['id']}", f"/boards/{other['id']}/events", f"/cards/{other_card['id']}",
                     f"/boards/{other['id']}/cards"):
            assert_problem(await api.call(who, "GET", path), 404, "not-found")
        r = await api.call(who, "POST", f"/workspaces/{ws}/boards", json={"name": "Guest board"})
        assert_problem(r, 403, "forbidden")
    assert len((await api.ok(world.alice, "GET", f"/workspaces/{ws}/boards"))["items"]) == 2


async def test_private_board_is_invisible_to_members_but_visible_to_the_owner(api: Api) -> None:
    alice = await api.user("Alice")  # workspace owner
    bob = await api.user("Bob")
    dave = await api.user("Dave")
    admin = await api.user("Admin")
    await api.join(alice, bob, "member")
    await api.join(alice, dave, "member")
    await api.join(alice, admin, "admin")
    ws = alice.workspace_id
    secret = await api.ok(bob, "POST", f"/workspaces/{ws}/boards", json={"name": "Bob's secret", "visibility": "private"})
    todo = await api.list(bob, secret["id"])
    card = await api.card(bob, todo["id"], "Surprise party")

    for who in (dave, admin):
        assert_problem(await api.call(who, "GET", f"/boards/{secret['id']}"), 404, "not-found")
        assert_problem(await api.call(who, "GET", f"/cards/{card['id']}"), 404, "not-found")
        assert_problem(await api.call(who, "PATCH", f"/cards/{card['id']}", json={"title": "x"}), 404, "not-found")
        assert secret["id"] not in {b["id"] for b in (await api.ok(who, "GET", f"/workspaces/{ws}/boards"))["items"]}

    snap = await api.ok(alice, "GET", f"/boards/{secret['id']}")
    assert snap["role"] == "admin"
    assert [c["title"] for c in snap["cards"]] == ["Surprise party"]
    assert secret["id"] in {b["id"] for b in (await api.ok(alice, "GET", f"/workspaces/{ws}/boards"))["items"]}

    # adding dave explicitly lets him in
    await api.ok(bob, "POST", f"/boards/{secret['id']}/members", json={"user_id": str(dave.id), "role": "commenter"})
    assert (await api.ok(dave, "GET", f"/boards/{secret['id']}"))["role"] == "commenter"


async def test_making_a_board_private_hides_it_from_members(api: Api) -> None:
    world = await build_world(api)
    bob = await api.user("Bob")
    await api.join(world.alice, bob, "member")
    assert (await api.ok(bob, "GET", f"/boards/{world.board['id']}"))["role"] == "editor"
    await api.ok(world.alice, "PATCH", f"/boards/{world.board['id']}", json={"visibility": "private"})
    assert_problem(await api.call(bob, "GET", f"/boards/{world.board['id']}"), 404, "not-found")
    assert_problem(await api.call(bob, "GET", f"/cards/{world.card['id']}"), 404, "not-found")


async def test_leaving_the_workspace_removes_board_access(api: Api) -> None:
    world = await build_world(api)
    guest = await member_with_role(api, world, "editor")
    await api.call(guest, "DELETE", f"/workspaces/{world.alice.workspace_id}/members/{guest.id}", expect=204)
    assert_problem(await api.call(guest, "GET", f"/boards/{world.board['id']}"), 404, "not-found")
    assert_problem(await api.call(guest, "PATCH", f"/cards/{world.card['id']}", json={"title": "x"}), 404)


# --- not signed in ----------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body", "kind"), ROUTES, ids=ROUTE_IDS)
async def test_unauthenticated_requests_are_401(api: Api, method: str, path: str, body: Any, kind: str) -> None:
    world = await build_world(api)
    before = await fingerprint(api, world)
    r = await request(api, None, world, world.alice, method, path, body)
    assert_problem(r, 401, "unauthorized")
    assert r.headers["www-authenticate"].startswith("Bearer")
    forged = User(uuid.uuid4(), "x@example.com", "x", "", "", world.alice.workspace_id,
                  {"Authorization": "Bearer not-a-real-token"})
    r = await request(api, forged, world, world.alice, method, path, body)
    assert_problem(r, 401, "unauthorized")
    assert await fingerprint(api, world) == before


@pytest.mark.parametrize("path", ["/me/tasks", "/workspaces/{ws}/boards"])
async def test_unauthenticated_listings_are_401(api: Api, path: str) -> None:
    world = await build_world(api)
    assert_problem(await api.call(None, "GET", fill(path, world.ids(world.alice))), 401, "unauthorized")
