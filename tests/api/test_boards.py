"""Boards, their members, lists, labels, snapshots and event catch-up, through the HTTP API."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import Api, User, assert_problem


async def snapshot(api: Api, who: User, board_id: str) -> dict[str, Any]:
    return await api.ok(who, "GET", f"/boards/{board_id}")


async def version(api: Api, who: User, board_id: str) -> int:
    return (await snapshot(api, who, board_id))["version"]


async def board_ids(api: Api, who: User, workspace_id: Any, query: str = "") -> list[str]:
    page = await api.ok(who, "GET", f"/workspaces/{workspace_id}/boards{query}")
    return [b["id"] for b in page["items"]]


# --- boards -----------------------------------------------------------------------------------


async def test_creating_a_board_makes_the_creator_its_admin(api: Api) -> None:
    alice = await api.user("Alice")
    r = await api.call(alice, "POST", f"/workspaces/{alice.workspace_id}/boards",
                       json={"name": "  Roadmap  ", "description": "Q3 plans", "color": "#A1b2C3"}, expect=201)
    board = r.json()
    assert board["name"] == "Roadmap"  # input strings are trimmed
    assert board["description"] == "Q3 plans"
    assert board["color"] == "#A1b2C3"
    assert board["visibility"] == "workspace"
    assert board["archived"] is False
    assert board["version"] == 1
    assert board["workspace_id"] == str(alice.workspace_id)

    snap = await snapshot(api, alice, board["id"])
    assert snap["role"] == "admin"
    assert snap["board"]["id"] == board["id"]
    assert snap["lists"] == [] and snap["cards"] == [] and snap["labels"] == []
    assert [(m["user"]["id"], m["role"], m["explicit"]) for m in snap["members"]] == [(str(alice.id), "admin", True)]

    events = await api.events(alice, board["id"])
    assert [(e["type"], e["board_version"]) for e in events] == [("board.created", 1)]
    assert events[0]["actor_id"] == str(alice.id)
    assert events[0]["payload"]["board"]["name"] == "Roadmap"


async def test_board_defaults(api: Api) -> None:
    alice = await api.user()
    board = await api.board(alice)
    assert (board["description"], board["color"], board["visibility"]) == ("", "blue", "workspace")


@pytest.mark.parametrize("body", [
    {"name": ""},
    {"name": "   "},
    {"name": "x" * 201},
    {"name": "B", "color": "teal"},
    {"name": "B", "color": "#12345"},
    {"name": "B", "color": "#GGGGGG"},
    {"name": "B", "color": "Blue"},
    {"name": "B", "visibility": "public"},
    {"name": "B", "description": "x" * 16385},
    {"name": "B", "owner": "me"},
    {},
])
async def test_invalid_board_is_refused_and_nothing_is_created(api: Api, body: dict[str, Any]) -> None:
    alice = await api.user()
    r = await api.call(alice, "POST", f"/workspaces/{alice.workspace_id}/boards", json=body)
    problem = assert_problem(r, 422, "invalid-input")
    assert problem["errors"]
    assert await board_ids(api, alice, alice.workspace_id) == []


async def test_board_name_of_200_chars_is_accepted(api: Api) -> None:
    alice = await api.user()
    board = await api.board(alice, name="n" * 200)
    assert board["name"] == "n" * 200


async def test_list_boards_shows_only_boards_the_caller_can_see(api: Api) -> None:
    alice = await api.user("Alice")  # workspace owner
    bob = await api.user("Bob")
    await api.join(alice, bob, "member")
    shared = await api.board(alice, name="Shared")
    secret = await api.board(alice, name="Secret", visibility="private")
    bobs_private = await api.ok(bob, "POST", f"/workspaces/{alice.workspace_id}/boards", json={"name": "Bob's"})
    assert bobs_private["workspace_id"] == str(alice.workspace_id)

    page = await api.ok(bob, "GET", f"/workspaces/{alice.workspace_id}/boards")
    roles = {b["id"]: b["role"] for b in page["items"]}
    assert roles == {shared["id"]: "editor", bobs_private["id"]: "admin"}
    assert page["next_cursor"] is None

    # bob's board is "workspace" visible by default; make one truly private
    await api.ok(bob, "PATCH", f"/boards/{bobs_private['id']}", json={"visibility": "private"})
    # the owner sees everything in the workspace, as admin
    page = await api.ok(alice, "GET", f"/workspaces/{alice.workspace_id}/boards")
    roles = {b["id"]: b["role"] for b in page["items"]}
    assert roles == {shared["id"]: "admin", secret["id"]: "admin", bobs_private["id"]: "admin"}


async def test_list_boards_archived_filter(api: Api) -> None:
    alice = await api.user()
    live = await api.board(alice, name="Live")
    old = await api.board(alice, name="Old")
    await api.ok(alice, "PATCH", f"/boards/{old['id']}", json={"archived": True})

    assert set(await board_ids(api, alice, alice.workspace_id)) == {live["id"], old["id"]}
    assert await board_ids(api, alice, alice.workspace_id, "?archived=true") == [old["id"]]
    assert await board_ids(api, alice, alice.workspace_id, "?archived=false") == [live["id"]]


async def test_list_boards_cursor_pagination(api: Api) -> None:
    alice = await api.user()
    created = [(await api.board(alice, name=f"B{i}"))["id"] for i in range(5)]
    seen: list[str] = []
    sizes = []
    cursor = None
    for _ in range(10):
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = await api.ok(alice, "GET", f"/workspaces/{alice.workspace_id}/boards{query}")
        sizes.append(len(page["items"]))
        seen += [b["id"] for b in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sizes == [2, 2, 1]
    assert sorted(seen) == sorted(created) and len(set(seen)) == 5

    # exactly one full page: no dangling cursor
    page = await api.ok(alice, "GET", f"/workspaces/{alice.workspace_id}/boards?limit=5")
    assert len(page["items"]) == 5 and page["next_cursor"] is None


@pytest.mark.parametrize("query", ["?cursor=not-a-cursor!", "?limit=0", "?limit=201", "?archived=maybe"])
async def test_list_boards_bad_query_is_422(api: Api, query: str) -> None:
    alice = await api.user()
    await api.board(alice)
    r = await api.call(alice, "GET", f"/workspaces/{alice.workspace_id}/boards{query}")
    assert_problem(r, 422, "invalid-input")


async def test_get_unknown_board_is_404(api: Api) -> None:
    alice = await api.user()
    r = await api.call(alice, "GET", f"/boards/{uuid.uuid4()}")
    assert_problem(r, 404, "not-found")
    r = await api.call(alice, "GET", "/boards/not-a-uuid")
    assert_problem(r, 422, "invalid-input")


async def test_snapshot_has_everything_needed_to_draw_the_board(api: Api) -> None:
    alice = await api.user("Alice")
    bob = await api.user("Bob")
    await api.join(alice, bob, "member")
    board = await api.board(alice, name="Launch")
    bid = board["id"]
    todo = await api.list(alice, bid, "To do")
    doing = await api.list(alice, bid, "Doing")
    done = await api.list(alice, bid, "Done")
    # put "Done" first so list order differs from creation order
    await api.ok(alice, "POST", f"/lists/{done['id']}/move", json={"before_id": todo["id"]})
    urgent = await api.ok(alice, "POST", f"/boards/{bid}/labels", json={"name": "urgent", "color": "red"})
    later = await api.ok(alice, "POST", f"/boards/{bid}/labels", json={"name": "later", "color": "#00ff00"})

    c1 = await api.card(alice, todo["id"], "First")
    c3 = await api.card(alice, todo["id"], "Third")
    c2 = await api.card(alice, todo["id"], "Second", after_id=c1["id"])
    d1 = await api.card(bob, doing["id"], "Doing it", label_ids=[urgent["id"], later["id"]],
                        assignee_ids=[str(bob.id), str(alice.id)])
    f1 = await api.card(alice, done["id"], "Shipped")
    gone = await api.card(alice, done["id"], "Archived card")
    await api.ok(alice, "PATCH", f"/cards/{gone['id']}", json={"archived": True})

    cl = await api.ok(alice, "POST", f"/cards/{d1['id']}/checklists", json={"title": "Steps"})
    i1 = await api.ok(alice, "POST", f"/checklists/{cl['id']}/items", json={"text": "one"})
    await api.ok(alice, "POST", f"/checklists/{cl['id']}/items", json={"text": "two"})
    await api.ok(alice, "POST", f"/checklists/{cl['id']}/items", json={"text": "three"})
    await api.ok(alice, "PATCH", f"/checklist-items/{i1['id']}", json={"done": True})
    await api.ok(bob, "POST", f"/cards/{d1['id']}/comments", json={"body": "on it"})
    await api.ok(bob, "POST", f"/cards/{d1['id']}/comments", json={"body": "halfway"})
    oops = await api.ok(bob, "POST", f"/cards/{d1['id']}/comments", json={"body": "oops"})
    await api.call(bob, "DELETE", f"/comments/{oops['id']}", expect=204)

    snap = await snapshot(api, bob, bid)
    assert snap["role"] == "editor"
    assert snap["version"] == snap["board"]["version"]
    assert snap["board"]["name"] == "Launch"
    assert [x["name"] for x in snap["lists"]] == ["Done", "To do", "Doing"]
    positions = [x["position"] for x in snap["lists"]]
    assert positions == sorted(positions)

    # cards: open only, grouped by list in list order, by position within a list
    assert [c["title"] for c in snap["cards"]] == ["Shipped", "First", "Second", "Third", "Doing it"]
    assert gone["id"] not in {c["id"] for c in snap["cards"]}
    by_id = {c["id"]: c for c in snap["cards"]}
    assert by_id[c1["id"]]["list_id"] == todo["id"]
    assert by_id[c2["id"]]["position"] < by_id[c3["id"]]["position"]
    doing_card = by_id[d1["id"]]
    assert sorted(doing_card["label_ids"]) == sorted([urgent["id"], later["id"]])
    assert sorted(doing_card["assignee_ids"]) == sorted([str(alice.id), str(bob.id)])
    assert doing_card["checklist_total"] == 3
    assert doing_card["checklist_done"] == 1
    assert doing_card["comment_count"] == 2  # the deleted comment is not counted
    plain = by_id[f1["id"]]
    assert (plain["label_ids"], plain["assignee_ids"], plain["checklist_total"], plain["checklist_done"],
            plain["comment_count"]) == ([], [], 0, 0, 0)

    assert sorted((x["name"], x["color"]) for x in snap["labels"]) == [("later", "#00ff00"), ("urgent", "red")]
    members = {m["user"]["id"]: (m["role"], m["explicit"]) for m in snap["members"]}
    assert members == {str(alice.id): ("admin", True), str(bob.id): ("editor", False)}
    assert {m["user"]["email"] for m in snap["members"]} == {alice.email, bob.email}

    # the same snapshot (served from cache) is personalised with the caller's role
    assert (await snapshot(api, alice, bid))["role"] == "admin"
    assert (await snapshot(api, alice, bid))["cards"] == snap["cards"]


async def test_snapshot_follows_every_change(api: Api) -> None:
    alice = await api.user()
    board = await api.board(alice)
    first = await snapshot(api, alice, board["id"])
    todo = await api.list(alice, board["id"], "To do")
    second = await snapshot(api, alice, board["id"])
    assert second["version"] == first["version"] + 1
    assert [x["id"] for x in second["lists"]] == [todo["id"]]
    await api.ok(alice, "PATCH", f"/boards/{board['id']}", json={"name": "Renamed"})
    third = await snapshot(api, alice, board["id"])
    assert third["board"]["name"] == "Renamed"
    assert third["version"] == second["version"] + 1


async def test_snapshot_members_follow_workspace_changes(api: Api) -> None:
    alice = await api.user("Alice")
    bob = await api.user("Bob")
    board = await api.board(alice)
    before = await snapshot(api, alice, board["id"])
    assert [m["user"]["id"] for m in before["members"]] == [str(alice.id)]
    # bob joins the workspace: no board event, but he can now see the board and must be listed
    await api.join(alice, bob, "member")
    after = await snapshot(api, alice, board["id"])
    assert after["version"] == before["version"]
    assert {m["user"]["id"] for m in after["members"]} == {str(alice.id), str(bob.id)}


async def test_patch_board_changes_fields_and_bumps_version(api: Api) -> None:
    alice = await api.user()
    board = await api.board(alice, name="Old", description="d")
    updated = await api.ok(alice, "PATCH", f"/boards/{board['id']}",
                           json={"name": "New", "color": "purple", "description": "fresh"})
    assert (updated["name"], updated["color"], updated["description"]) == ("New", "purple", "fresh")
    assert updated["version"] == board["version"] + 1
    assert updated["updated_at"] >= board["updated_at"]
    events = await api.events(alice, board["id"], after=board["version"])
    assert [e["type"] for e in events] == ["board.updated"]
    assert events[0]["payload"]["changes"] == ["color", "description", "name"]
    assert events[0]["payload"]["board"]["version"] == updated["version"]

    # omitted fields are left alone
    again = await api.ok(alice, "PATCH", f"/boards/{board['id']}", json={"visibility": "private", "archived": True})
    assert (again["name"], again["visibility"], again["archived"]) == ("New", "private", True)
    back = await api.ok(alice, "PATCH", f"/boards/{board['id']}", json={"archived": False})
    assert back["archived"] is False and back["visibility"] == "private"


@pytest.mark.parametrize("body", [
    {"color": "chartreuse"}, {"color": "#abc"}, {"name": ""}, {"visibility": "everyone"},
    {"archived": "nope"}, {"version": 99}, {"name": "x" * 201},
])
async def test_invalid_board_patch_changes_nothing(api: Api, body: dict[str, Any]) -> None:
    alice = await api.user()
    board = await api.board(alice, name="Keep", color="green")
    r = await api.call(alice, "PATCH", f"/boards/{board['id']}", json=body)
    assert_problem(r, 422, "invalid-input")
    snap = await snapshot(api, alice, board["id"])
    assert snap["version"] == board["version"]
    assert (snap["board"]["name"], snap["board"]["color"]) == ("Keep", "green")


async def test_delete_board_removes_it_and_everything_on_it(api: Api) -> None:
    alice = await api.user()
    board = await api.board(alice)
    keep = await api.board(alice, name="Keep")
    todo = await api.list(alice, board["id"])
    card = await api.card(alice, todo["id"])
    label = await api.ok(alice, "POST", f"/boards/{board['id']}/labels", json={"color": "red"})

    await api.call(alice, "DELETE", f"/boards/{board['id']}", expect=204)

    assert_problem(await api.call(alice, "GET", f"/boards/{board['id']}"), 404, "not-found")
    assert_problem(await api.call(alice, "GET", f"/boards/{board['id']}/events"), 404, "not-found")
    assert_problem(await api.call(alice, "GET", f"/cards/{card['id']}"), 404, "not-found")
    assert_problem(await api.call(alice, "PATCH", f"/lists/{todo['id']}", json={"name": "x"}), 404, "not-found")
    assert_problem(await api.call(alice, "PATCH", f"/labels/{label['id']}", json={"name": "x"}), 404, "not-found")
    assert await board_ids(api, alice, alice.workspace_id) == [keep["id"]]
    assert_problem(await api.call(alice, "DELETE", f"/boards/{board['id']}"), 404, "not-found")


# --- members ----------------------------------------------------------------------------------


async def test_a_workspace_guest_added_to_a_board_sees_only_that_board(api: Api) -> None:
    alice = await api.user("Alice")
    carol = await api.user("Carol")
    board = await api.board(alice)
    other = await api.board(alice, name="Other")
    await api.join(alice, carol, "guest")  # the invitation link she accepted
    assert_problem(await api.call(carol, "GET", f"/boards/{board['id']}"), 404)

    r = await api.call(alice, "POST", f"/boards/{board['id']}/members",
                       json={"user_id": str(carol.id), "role": "commenter"}, expect=201)
    member = r.json()
    assert member["user"] == {"id": str(carol.id), "name": "Carol", "email": carol.email}
    assert (member["role"], member["explicit"]) == ("commenter", True)

    ws_members = await api.ok(alice, "GET", f"/workspaces/{alice.workspace_id}/members")
    assert {m["user"]["id"]: m["role"] for m in ws_members}[str(carol.id)] == "guest"

    # as a guest she sees only the board she was added to
    assert await board_ids(api, carol, alice.workspace_id) == [board["id"]]
    assert (await snapshot(api, carol, board["id"]))["role"] == "commenter"
    assert_problem(await api.call(carol, "GET", f"/boards/{other['id']}"), 404)

    members = await api.ok(alice, "GET", f"/boards/{board['id']}/members")
    assert {m["user"]["id"]: m["role"] for m in members} == {str(alice.id): "admin", str(carol.id): "commenter"}
    events = await api.events(alice, board["id"], after=board["version"])
    assert [(e["type"], e["payload"]["user_id"], e["payload"]["role"]) for e in events] == [
        ("board.member_added", str(carol.id), "commenter")]


async def test_people_outside_the_workspace_cannot_be_added_and_their_existence_is_not_told(api: Api) -> None:
    alice = await api.user("Alice")
    carol = await api.user("Carol")  # registered, but not in alice's workspace
    board = await api.board(alice, visibility="private")
    workspace_before = await api.ok(alice, "GET", f"/workspaces/{alice.workspace_id}/members")
    audit_before = (await api.ok(alice, "GET", f"/workspaces/{alice.workspace_id}/audit"))["items"]

    answers = []
    for user_id in (str(carol.id), str(uuid.uuid4())):
        r = await api.call(alice, "POST", f"/boards/{board['id']}/members", json={"user_id": user_id, "role": "admin"})
        problem = assert_problem(r, 404, "not-found")
        assert "invitation link" in problem["detail"]
        assert "Carol" not in r.text and carol.email not in r.text
        answers.append((r.status_code, r.headers["content-type"], problem))
    assert answers[0] == answers[1]  # a real user outside the workspace looks like no user at all

    # nothing changed: no board role, no workspace membership, no event, no audit entry
    assert await version(api, alice, board["id"]) == board["version"]
    assert await api.ok(alice, "GET", f"/workspaces/{alice.workspace_id}/members") == workspace_before
    assert (await api.ok(alice, "GET", f"/workspaces/{alice.workspace_id}/audit"))["items"] == audit_before
    assert [m["user"]["id"] for m in await api.ok(alice, "GET", f"/boards/{board['id']}/members")] == [str(alice.id)]
    assert_problem(await api.call(carol, "GET", f"/boards/{board['id']}"), 404)
    assert (await api.ok(carol, "GET", "/workspaces"))["items"][0]["id"] == str(carol.workspace_id)
    assert len((await api.ok(carol, "GET", "/workspaces"))["items"]) == 1

    # once she accepts an invitation link, the same request adds her
    await api.join(alice, carol, "guest")
    r = await api.call(alice, "POST", f"/boards/{board['id']}/members",
                       json={"user_id": str(carol.id), "role": "viewer"}, expect=201)
    assert r.json()["user"]["email"] == carol.email
    assert (await snapshot(api, carol, board["id"]))["role"] == "viewer"


async def test_add_member_defaults_to_editor_and_repeating_it_changes_nothing(api: Api) -> None:
    alice = await api.user()
    carol = await api.user()
    await api.join(alice, carol, "guest")
    board = await api.board(alice)
    r = await api.call(alice, "POST", f"/boards/{board['id']}/members", json={"user_id": str(carol.id)}, expect=201)
    assert r.json()["role"] == "editor"
    v = await version(api, alice, board["id"])
    await api.call(alice, "POST", f"/boards/{board['id']}/members", json={"user_id": str(carol.id)}, expect=201)
    assert await version(api, alice, board["id"]) == v
    # posting again with another role changes the role
    r = await api.call(alice, "POST", f"/boards/{board['id']}/members",
                       json={"user_id": str(carol.id), "role": "viewer"}, expect=201)
    assert r.json()["role"] == "viewer"
    assert [e["type"] for e in await api.events(alice, board["id"], after=v)] == ["board.member_updated"]


@pytest.mark.parametrize("body", [
    {"user_id": "not-a-uuid"}, {"role": "viewer"}, {"user_id": "USER", "role": "owner"},
    {"user_id": "USER", "role": "viewer", "extra": 1},
])
async def test_invalid_add_member_is_422_and_changes_nothing(api: Api, body: dict[str, Any]) -> None:
    alice = await api.user()
    carol = await api.user()
    await api.join(alice, carol, "guest")  # someone who could be added, but for the body
    board = await api.board(alice)
    body = {k: (str(carol.id) if v == "USER" else v) for k, v in body.items()}
    r = await api.call(alice, "POST", f"/boards/{board['id']}/members", json=body)
    assert_problem(r, 422, "invalid-input")
    assert await version(api, alice, board["id"]) == board["version"]
    assert_problem(await api.call(carol, "GET", f"/boards/{board['id']}"), 404)


async def test_add_unknown_user_is_refused_and_changes_nothing(api: Api) -> None:
    alice = await api.user()
    board = await api.board(alice)
    r = await api.call(alice, "POST", f"/boards/{board['id']}/members", json={"user_id": str(uuid.uuid4())})
    assert_problem(r, 404, "not-found")
    assert await version(api, alice, board["id"]) == board["version"]
    assert len(await api.ok(alice, "GET", f"/workspaces/{alice.workspace_id}/members")) == 1


async def test_update_member_role(api: Api) -> None:
    alice = await api.user()
    carol = await api.user()
    await api.join(alice, carol, "guest")
    board = await api.board(alice)
    await api.ok(alice, "POST", f"/boards/{board['id']}/members", json={"user_id": str(carol.id), "role": "viewer"})
    v = await version(api, alice, board["id"])

    updated = await api.ok(alice, "PATCH", f"/boards/{board['id']}/members/{carol.id}", json={"role": "editor"})
    assert (updated["role"], updated["explicit"]) == ("editor", True)
    assert (await snapshot(api, carol, board["id"]))["role"] == "editor"
    assert [e["type"] for e in await api.events(alice, board["id"], after=v)] == ["board.member_updated"]

    v += 1
    assert_problem(await api.call(alice, "PATCH", f"/boards/{board['id']}/members/{carol.id}",
                                  json={"role": "superuser"}), 422, "invalid-input")
    # someone who is not an explicit member
    dave = await api.user()
    assert_problem(await api.call(alice, "PATCH", f"/boards/{board['id']}/members/{dave.id}",
                                  json={"role": "viewer"}), 404, "not-found")
    assert await version(api, alice, board["id"]) == v


async def test_remove_member(api: Api) -> None:
    alice = await api.user()
    carol = await api.user()
    await api.join(alice, carol, "guest")
    board = await api.board(alice)
    await api.ok(alice, "POST", f"/boards/{board['id']}/members", json={"user_id": str(carol.id), "role": "editor"})
    v = await version(api, alice, board["id"])

    await api.call(alice, "DELETE", f"/boards/{board['id']}/members/{carol.id}", expect=204)
    assert_problem(await api.call(carol, "GET", f"/boards/{board['id']}"), 404)
    assert await board_ids(api, carol, alice.workspace_id) == []
    members = await api.ok(alice, "GET", f"/boards/{board['id']}/members")
    assert [m["user"]["id"] for m in members] == [str(alice.id)]
    events = await api.events(alice, board["id"], after=v)
    assert [(e["type"], e["payload"]["user_id"]) for e in events] == [("board.member_removed", str(carol.id))]

    # again: she is no longer an explicit member
    assert_problem(await api.call(alice, "DELETE", f"/boards/{board['id']}/members/{carol.id}"), 404)
    assert await version(api, alice, board["id"]) == v + 1


async def test_a_member_can_leave_a_board_but_not_remove_others(api: Api) -> None:
    alice = await api.user()
    carol = await api.user()
    dave = await api.user()
    board = await api.board(alice)
    for who in (carol, dave):
        await api.join(alice, who, "guest")
        await api.ok(alice, "POST", f"/boards/{board['id']}/members", json={"user_id": str(who.id), "role": "viewer"})
    v = await version(api, alice, board["id"])

    r = await api.call(carol, "DELETE", f"/boards/{board['id']}/members/{dave.id}")
    assert_problem(r, 403, "forbidden")
    assert await version(api, alice, board["id"]) == v

    await api.call(carol, "DELETE", f"/boards/{board['id']}/members/{carol.id}", expect=204)
    assert_problem(await api.call(carol, "GET", f"/boards/{board['id']}"), 404)
    assert (await snapshot(api, dave, board["id"]))["role"] == "viewer"
    assert {m["user"]["id"] for m in await api.ok(alice, "GET", f"/boards/{board['id']}/members")} == {
        str(alice.id), str(dave.id)}


# --- lists ------------------------------------------------------------------------------------


async def list_names(api: Api, who: User, board_id: str) -> list[str]:
    return [x["name"] for x in (await snapshot(api, who, board_id))["lists"]]


async def test_lists_are_placed_where_asked(api: Api) -> None:
    alice = await api.user()
    board = await api.board(alice)
    bid = board["id"]
    a = await api.list(alice, bid, "A")
    b = await api.list(alice, bid, "B")
    assert (a["board_id"], a["archived"]) == (bid, False)
    assert a["position"] < b["position"]
    c = await api.list(alice, bid, "C", after_id=a["id"])
    assert await list_names(api, alice, bid) == ["A", "C", "B"]
    await api.list(alice, bid, "D", before_id=a["id"])
    assert await list_names(api, alice, bid) == ["D", "A", "C", "B"]
    await api.list(alice, bid, "E", after_id=a["id"], before_id=c["id"])
    assert await list_names(api, alice, bid) == ["D", "A", "E", "C", "B"]
    await api.list(alice, bid, "F", after_id=b["id"])
    assert await list_names(api, alice, bid) == ["D", "A", "E", "C", "B", "F"]
    events = await api.events(alice, bid, after=board["version"])
    assert [e["type"] for e in events] == ["list.created"] * 6
    assert events[2]["payload"]["list"]["name"] == "C"


async def test_list_placement_errors_change_nothing(api: Api) -> None:
    alice = await api.user()
    board = await api.board(alice)
    other = await api.board(alice, name="Other")
    a = await api.list(alice, board["id"], "A")
    b = await api.list(alice, board["id"], "B")
    foreign = await api.list(alice, other["id"], "Foreign")
    v = await version(api, alice, board["id"])
    for body in (
        {"name": "X", "after_id": foreign["id"]},
        {"name": "X", "before_id": str(uuid.uuid4())},
        {"name": "X", "after_id": b["id"], "before_id": a["id"]},  # wrong way round
        {"name": "X", "after_id": a["id"], "before_id": a["id"]},
    ):
        r = await api.call(alice, "POST", f"/boards/{board['id']}/lists", json=body)
        assert_problem(r, 422, "invalid-position")
    for body in ({"name": ""}, {"name": "x" * 201}, {"name": "X", "color": "red"}, {}):
        r = await api.call(alice, "POST", f"/boards/{board['id']}/lists", json=body)
        assert_problem(r, 422, "invalid-input")
    assert await version(api, alice, board["id"]) == v
    assert await list_names(api, alice, board["id"]) == ["A", "B"]


async def test_rename_list(api: Api) -> None:
    alice = await api.user()
    board = await api.board(alice)
    todo = await api.list(alice, board["id"], "Todo")
    renamed = await api.ok(alice, "PATCH", f"/lists/{todo['id']}", json={"name": "To do"})
    assert renamed["name"] == "To do" and renamed["position"] == todo["position"]
    assert await list_names(api, alice, board["id"]) == ["To do"]
    event = (await api.events(alice, board["id"], after=board["version"] + 1))[0]
    assert (event["type"], event["payload"]["changes"]) == ("list.updated", ["name"])

    v = await version(api, alice, board["id"])
    for body in ({"name": ""}, {"name": "x" * 201}, {"position": "a0"}):
        assert_problem(await api.call(alice, "PATCH", f"/lists/{todo['id']}", json=body), 422, "invalid-input")
    assert_problem(await api.call(alice, "PATCH", f"/lists/{uuid.uuid4()}", json={"name": "x"}), 404, "not-found")
    assert await version(api, alice, board["id"]) == v
    assert await list_names(api, alice, board["id"]) == ["To do"]


async def test_archived_lists_and_their_cards_leave_the_snapshot(api: Api) -> None:
    alice = await api.user()
    board = await api.board(alice)
    todo = await api.list(alice, board["id"], "To do")
    old = await api.list(alice, board["id"], "Old")
    await api.card(alice, todo["id"], "Keep")
    await api.card(alice, old["id"], "Hide")

    archived = await api.ok(alice, "PATCH", f"/lists/{old['id']}", json={"archived": True})
    assert archived["archived"] is True
    snap = await snapshot(api, alice, board["id"])
    assert [x["name"] for x in snap["lists"]] == ["To do"]
    assert [c["title"] for c in snap["cards"]] == ["Keep"]

    await api.ok(alice, "PATCH", f"/lists/{old['id']}", json={"archived": False})
    snap = await snapshot(api, alice, board["id"])
    assert [x["name"] for x in snap["lists"]] == ["To do", "Old"]
    assert [c["title"] for c in snap["cards"]] == ["Keep", "Hide"]


async def test_move_list(api: Api) -> None:
    alice = await api.user()
    board = await api.board(alice)
    bid = board["id"]
    a, b, c = [await api.list(alice, bid, n) for n in "ABC"]

    moved = await api.ok(alice, "POST", f"/lists/{c['id']}/move", json={"before_id": a["id"]})
    assert moved["id"] == c["id"] and moved["position"] < a["position"]
    assert await list_names(api, alice, bid) == ["C", "A", "B"]
    await api.ok(alice, "POST", f"/lists/{c['id']}/move", json={"after_id": b["id"]})
    assert await list_names(api, alice, bid) == ["A", "B", "C"]
    await api.ok(alice, "POST", f"/lists/{a['id']}/move", json={"after_id": b["id"], "before_id": c["id"]})
    assert await list_names(api, alice, bid) == ["B", "A", "C"]
    await api.ok(alice, "POST", f"/lists/{b['id']}/move", json={})  # no neighbours: to the end
    assert await list_names(api, alice, bid) == ["A", "C", "B"]
    events = await api.events(alice, bid, after=board["version"] + 3)
    assert [e["type"] for e in events] == ["list.moved"] * 4


async def test_bad_list_moves_change_nothing(api: Api) -> None:
    alice = await api.user()
    board = await api.board(alice)
    other = await api.board(alice, name="Other")
    a = await api.list(alice, board["id"], "A")
    b = await api.list(alice, board["id"], "B")
    foreign = await api.list(alice, other["id"], "Foreign")
    v = await version(api, alice, board["id"])
    for body in ({"after_id": a["id"]}, {"before_id": a["id"]}, {"after_id": foreign["id"]},
                 {"before_id": str(uuid.uuid4())}, {"after_id": b["id"], "before_id": b["id"]}):
        r = await api.call(alice, "POST", f"/lists/{a['id']}/move", json=body)
        assert_problem(r, 422, "invalid-position")
    assert_problem(await api.call(alice, "POST", f"/lists/{a['id']}/move", json={"board_id": other["id"]}),
                   422, "invalid-input")
    assert_problem(await api.call(alice, "POST", f"/lists/{uuid.uuid4()}/move", json={}), 404, "not-found")
    assert await version(api, alice, board["id"]) == v
    assert await list_names(api, alice, board["id"]) == ["A", "B"]


async def test_deleting_a_list_deletes_its_cards(api: Api) -> None:
    alice = await api.user()
    board = await api.board(alice)
    keep = await api.list(alice, board["id"], "Keep")
    doomed = await api.list(alice, board["id"], "Doomed")
    kept = await api.card(alice, keep["id"], "kept")
    cards = [await api.card(alice, doomed["id"], f"c{i}") for i in range(3)]
    v = await version(api, alice, board["id"])

    await api.call(alice, "DELETE", f"/lists/{doomed['id']}", expect=204)
    snap = await snapshot(api, alice, board["id"])
    assert [x["id"] for x in snap["lists"]] == [keep["id"]]
    assert [c["id"] for c in snap["cards"]] == [kept["id"]]
    for card in cards:
        assert_problem(await api.call(alice, "GET", f"/cards/{card['id']}"), 404, "not-found")
    search = await api.ok(alice, "GET", f"/boards/{board['id']}/cards")
    assert [c["id"] for c in search["items"]] == [kept["id"]]
    events = await api.events(alice, board["id"], after=v)
    assert [(e["type"], e["payload"]["list_id"]) for e in events] == [("list.deleted", doomed["id"])]
    assert_problem(await api.call(alice, "DELETE", f"/lists/{doomed['id']}"), 404, "not-found")
    assert_problem(await api.call(alice, "POST", f"/lists/{doomed['id']}/cards", json={"title": "x"}), 404)


# --- labels -----------------------------------------------------------------------------------


async def test_labels_create_update_delete(api: Api) -> None:
    alice = await api.user()
    board = await api.board(alice)
    bid = board["id"]
    r = await api.call(alice, "POST", f"/boards/{bid}/labels", json={"name": "bug", "color": "red"}, expect=201)
    bug = r.json()
    assert (bug["board_id"], bug["name"], bug["color"]) == (bid, "bug", "red")
    unnamed = await api.ok(alice, "POST", f"/boards/{bid}/labels", json={"color": "#123abc"})
    assert unnamed["name"] == ""

    updated = await api.ok(alice, "PATCH", f"/labels/{bug['id']}", json={"color": "orange"})
    assert (updated["name"], updated["color"]) == ("bug", "orange")
    updated = await api.ok(alice, "PATCH", f"/labels/{bug['id']}", json={"name": "defect"})
    assert (updated["name"], updated["color"]) == ("defect", "orange")
    labels = {x["id"]: (x["name"], x["color"]) for x in (await snapshot(api, alice, bid))["labels"]}
    assert labels == {bug["id"]: ("defect", "orange"), unnamed["id"]: ("", "#123abc")}
    types = [e["type"] for e in await api.events(alice, bid, after=board["version"])]
    assert types == ["label.created", "label.created", "label.updated", "label.updated"]


async def test_deleting_a_label_takes_it_off_every_card(api: Api) -> None:
    alice = await api.user()
    board = await api.board(alice)
    todo = await api.list(alice, board["id"])
    bug = await api.ok(alice, "POST", f"/boards/{board['id']}/labels", json={"name": "bug", "color": "red"})
    ui = await api.ok(alice, "POST", f"/boards/{board['id']}/labels", json={"name": "ui", "color": "blue"})
    c1 = await api.card(alice, todo["id"], "one", label_ids=[bug["id"], ui["id"]])
    c2 = await api.card(alice, todo["id"], "two", label_ids=[bug["id"]])

    await api.call(alice, "DELETE", f"/labels/{bug['id']}", expect=204)
    assert (await api.ok(alice, "GET", f"/cards/{c1['id']}"))["label_ids"] == [ui["id"]]
    assert (await api.ok(alice, "GET", f"/cards/{c2['id']}"))["label_ids"] == []
    snap = await snapshot(api, alice, board["id"])
    assert [x["id"] for x in snap["labels"]] == [ui["id"]]
    assert {c["id"]: c["label_ids"] for c in snap["cards"]} == {c1["id"]: [ui["id"]], c2["id"]: []}
    search = await api.ok(alice, "GET", f"/boards/{board['id']}/cards?label={bug['id']}")
    assert search["items"] == []
    assert (await api.events(alice, board["id"]))[-1]["type"] == "label.deleted"
    assert_problem(await api.call(alice, "DELETE", f"/labels/{bug['id']}"), 404, "not-found")
    assert_problem(await api.call(alice, "PATCH", f"/labels/{bug['id']}", json={"name": "x"}), 404, "not-found")


@pytest.mark.parametrize("color", ["teal", "RED", "#1234567", "#12345", "123456", "#xyzxyz", "", "red green"])
async def test_bad_label_colours_are_422_and_change_nothing(api: Api, color: str) -> None:
    alice = await api.user()
    board = await api.board(alice)
    label = await api.ok(alice, "POST", f"/boards/{board['id']}/labels", json={"name": "ok", "color": "green"})
    v = await version(api, alice, board["id"])
    r = await api.call(alice, "POST", f"/boards/{board['id']}/labels", json={"name": "x", "color": color})
    assert_problem(r, 422, "invalid-input")
    r = await api.call(alice, "PATCH", f"/labels/{label['id']}", json={"color": color})
    assert_problem(r, 422, "invalid-input")
    snap = await snapshot(api, alice, board["id"])
    assert snap["version"] == v
    assert [(x["name"], x["color"]) for x in snap["labels"]] == [("ok", "green")]


async def test_label_needs_a_colour_and_a_short_name(api: Api) -> None:
    alice = await api.user()
    board = await api.board(alice)
    for body in ({"name": "no colour"}, {"name": "x" * 101, "color": "red"}, {"color": "red", "board_id": "x"}):
        assert_problem(await api.call(alice, "POST", f"/boards/{board['id']}/labels", json=body), 422)
    assert (await snapshot(api, alice, board["id"]))["labels"] == []
    label = await api.ok(alice, "POST", f"/boards/{board['id']}/labels", json={"name": "x" * 100, "color": "red"})
    assert label["name"] == "x" * 100


# --- events -----------------------------------------------------------------------------------


async def test_events_after_a_version_are_exactly_the_later_ones_in_order(api: Api) -> None:
    alice = await api.user()
    board = await api.board(alice)
    bid = board["id"]
    todo = await api.list(alice, bid, "To do")  # v2
    label = await api.ok(alice, "POST", f"/boards/{bid}/labels", json={"color": "red"})  # v3
    card = await api.card(alice, todo["id"], "Task")  # v4
    await api.ok(alice, "POST", f"/cards/{card['id']}/labels/{label['id']}")  # v5
    await api.ok(alice, "PATCH", f"/cards/{card['id']}", json={"completed": True})  # v6
    await api.ok(alice, "PATCH", f"/boards/{bid}", json={"name": "Renamed"})  # v7

    page = await api.ok(alice, "GET", f"/boards/{bid}/events?after_version=3")
    assert [e["board_version"] for e in page["items"]] == [4, 5, 6, 7]
    assert [e["type"] for e in page["items"]] == ["card.created", "card.label_added", "card.updated", "board.updated"]
    assert all(e["board_id"] == bid and e["workspace_id"] == str(alice.workspace_id) for e in page["items"])
    assert all(e["actor_id"] == str(alice.id) for e in page["items"])
    seqs = [e["seq"] for e in page["items"]]
    assert seqs == sorted(seqs) and len(set(e["id"] for e in page["items"])) == 4
    assert page["items"][0]["card_id"] == card["id"]
    assert (page["board_version"], page["has_more"]) == (7, False)
    assert page["board_version"] == await version(api, alice, bid)

    full = await api.events(alice, bid)
    assert [e["board_version"] for e in full] == list(range(1, 8))
    assert [e["id"] for e in full[3:]] == [e["id"] for e in page["items"]]

    latest = await api.ok(alice, "GET", f"/boards/{bid}/events?after_version=7")
    assert (latest["items"], latest["board_version"], latest["has_more"]) == ([], 7, False)

    partial = await api.ok(alice, "GET", f"/boards/{bid}/events?after_version=1&limit=2")
    assert [e["board_version"] for e in partial["items"]] == [2, 3]
    assert partial["has_more"] is True


@pytest.mark.parametrize("query", ["?after_version=-1", "?after_version=abc", "?limit=0", "?limit=1001"])
async def test_events_bad_query_is_422(api: Api, query: str) -> None:
    alice = await api.user()
    board = await api.board(alice)
    assert_problem(await api.call(alice, "GET", f"/boards/{board['id']}/events{query}"), 422, "invalid-input")


async def test_failed_commands_leave_no_events(api: Api) -> None:
    alice = await api.user()
    board = await api.board(alice)
    todo = await api.list(alice, board["id"])
    await api.call(alice, "POST", f"/boards/{board['id']}/labels", json={"color": "mauve"}, expect=422)
    await api.call(alice, "POST", f"/lists/{todo['id']}/move", json={"after_id": todo["id"]}, expect=422)
    await api.call(alice, "POST", f"/lists/{todo['id']}/cards", json={"title": ""}, expect=422)
    await api.card(alice, todo["id"])
    assert [e["board_version"] for e in await api.events(alice, board["id"])] == [1, 2, 3]
