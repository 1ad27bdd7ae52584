"""A first walk through the main flow."""

from tests.conftest import Api


async def test_board_flow(api: Api) -> None:
    alice = await api.user("Alice")
    board = await api.board(alice)
    todo = await api.list(alice, board["id"], "To do")
    done = await api.list(alice, board["id"], "Done")
    card = await api.card(alice, todo["id"], "Write the spec")
    moved = await api.ok(alice, "POST", f"/cards/{card['id']}/move", json={"list_id": done["id"]})
    assert moved["list_id"] == done["id"]
    snap = await api.ok(alice, "GET", f"/boards/{board['id']}")
    assert snap["role"] == "admin"
    assert [c["title"] for c in snap["cards"]] == ["Write the spec"]
    assert snap["version"] == 5
    events = await api.events(alice, board["id"])
    assert [e["board_version"] for e in events] == [1, 2, 3, 4, 5]
