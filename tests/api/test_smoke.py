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


async def test_emoji_and_non_latin_text_round_trip(api: Api) -> None:
    """utf8mb4 on MySQL-family servers: four-byte characters survive storage."""
    alice = await api.user("Zoë")
    board = await api.board(alice, name="Launch 🚀")
    lst = await api.list(alice, board["id"], "Готово ✅")
    card = await api.card(alice, lst["id"], "Ship it 🚀✨ — 出荷", description="## Notes 📝\n- naïve café")
    fetched = await api.ok(alice, "GET", f"/cards/{card['id']}")
    assert fetched["title"] == "Ship it 🚀✨ — 出荷"
    assert fetched["description"] == "## Notes 📝\n- naïve café"
    snap = await api.ok(alice, "GET", f"/boards/{board['id']}")
    assert snap["board"]["name"] == "Launch 🚀" and snap["lists"][0]["name"] == "Готово ✅"
    found = await api.ok(alice, "GET", f"/boards/{board['id']}/cards?q=🚀")
    assert [c["id"] for c in found["items"]] == [card["id"]]
