"""@Name mentions from the web app: the comment's text reads as names, its `mentions` list says who they are;
only people on the board count, on create and on edit."""

from __future__ import annotations

import pytest

from tests.conftest import Api


@pytest.mark.parametrize("backend", ["sqlite"])  # the board-member check is the @e-mail handles' own, in Python
async def test_mentions_by_name_name_board_members_only(api: Api) -> None:
    alice, bob, outsider = await api.user("Alice"), await api.user("Bob"), await api.user("Otto")
    await api.join(alice, bob)
    board = await api.board(alice)
    card = await api.card(alice, (await api.list(alice, board["id"]))["id"])

    c = await api.ok(alice, "POST", f"/cards/{card['id']}/comments",
                     json={"body": "@Bob and @Otto, look", "mentions": [str(bob.id), str(outsider.id)]})
    assert c["body"] == "@Bob and @Otto, look" and c["mentions"] == [str(bob.id)]
    edited = await api.ok(alice, "PATCH", f"/comments/{c['id']}",
                          json={"body": f"@Alice, and @{bob.email}", "mentions": [str(alice.id)]})
    assert sorted(edited["mentions"]) == sorted([str(alice.id), str(bob.id)])  # names and handles together
    edited = await api.ok(alice, "PATCH", f"/comments/{c['id']}", json={"body": "nobody"})
    assert edited["mentions"] == []
    listed = (await api.ok(alice, "GET", f"/cards/{card['id']}/comments"))["items"]
    assert listed[0]["mentions"] == []
    assert (await api.call(alice, "POST", f"/cards/{card['id']}/comments",
                           json={"body": "x", "mentions": ["not-an-id"]})).status_code == 422
