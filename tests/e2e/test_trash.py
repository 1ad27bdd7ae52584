"""Archive with Undo and the trash in the web app (issue 25), in Chromium, two windows on one board."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.e2e.conftest import Tab, add_card, card, column, create_board, sign_up


def sign_in(tab: Tab, email: str) -> None:
    """The same person in another browser (another context: its own session)."""
    page = tab.page
    tab.go("/signin")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name="Orbitask")).to_be_visible()


def two_windows(new_tab, name: str, email: str, lists: list[str]) -> tuple[Tab, Tab, str]:
    """A board made in one window and open, live, in a second one."""
    one, two = new_tab(), new_tab()
    sign_up(one, name, email)
    board_id = create_board(one, "Spring cleaning", lists)
    sign_in(two, email)
    two.go(f"/b/{board_id}")
    expect(two.page.get_by_role("heading", name="Spring cleaning")).to_be_visible()
    expect(two.page.get_by_test_id("live-status")).to_contain_text("Live")
    return one, two, board_id


def test_archiving_a_list_asks_first_and_undo_brings_it_back_in_every_window(new_tab) -> None:
    one, two, _ = two_windows(new_tab, "Una Undo", "una.undo@example.com", ["Now", "Later"])
    add_card(one, "Later", "Paint the fence")
    expect(card(two, "Paint the fence", "Later")).to_be_visible()

    # ⌫ alone archives nothing: it asks, and Cancel leaves the list where it is
    column(one, "Later").get_by_role("button", name="Archive or delete list Later").click()
    ask = one.page.get_by_role("group", name="Archive or delete list Later")
    expect(ask).to_contain_text("Take “Later” and its cards off the board?")
    ask.get_by_role("button", name="Cancel").click()
    expect(ask).to_have_count(0)
    expect(column(one, "Later")).to_be_visible()

    column(one, "Later").get_by_role("button", name="Archive or delete list Later").click()
    one.page.get_by_role("group", name="Archive or delete list Later").get_by_role("button", name="Archive list").click()
    for tab in (one, two):
        expect(column(tab, "Later")).to_have_count(0)
    toast = one.page.get_by_test_id("toast").filter(has_text="List archived")
    toast.get_by_role("button", name="Undo").click()
    for tab in (one, two):
        expect(card(tab, "Paint the fence", "Later")).to_be_visible()
    expect(one.page.locator('[data-testid="list"]')).to_have_count(2)
    assert one.dialogs == [] and two.dialogs == []


def test_a_deleted_card_comes_back_from_the_trash_in_every_window(new_tab) -> None:
    one, two, _ = two_windows(new_tab, "Tess Trash", "tess.trash@example.com", ["Todo"])
    add_card(one, "Todo", "Water the plants")
    add_card(one, "Todo", "Feed the cat")
    expect(card(two, "Feed the cat", "Todo")).to_be_visible()

    card(one, "Water the plants").click()
    one.page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    for tab in (one, two):
        expect(card(tab, "Water the plants")).to_have_count(0)
    expect(one.page.get_by_test_id("toast").filter(has_text="Card moved to the trash")).to_be_visible()

    one.page.get_by_role("button", name="Board menu").click()
    one.page.get_by_role("menuitem", name="Trash").click()
    panel = one.page.get_by_role("dialog", name="Trash")
    item = panel.get_by_test_id("panel-item")
    expect(item).to_have_count(1)
    expect(item).to_contain_text(re.compile(r"Water the plants · card in Todo · deleted by Tess Trash"))
    panel.get_by_role("button", name="Restore Water the plants").click()
    expect(panel.get_by_text("Nothing is in the trash.")).to_be_visible()
    for tab in (one, two):
        expect(card(tab, "Water the plants", "Todo")).to_be_visible()
    expect(column(two, "Todo").locator('[data-testid="card"]')).to_have_text(
        [re.compile("Water the plants"), re.compile("Feed the cat")])  # in its place
    assert one.dialogs == [] and two.dialogs == []
