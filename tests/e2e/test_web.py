"""The web app in a real browser (Debian's Chromium) against a real `orbitask serve`."""

from __future__ import annotations

import base64
import re
import struct
import zlib

from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.e2e.conftest import add_card, card, column, create_board, drag, sign_up


def test_sign_up_board_lists_cards_and_a_drag_that_survives_reload(new_tab) -> None:
    tab = new_tab()
    page = tab.page
    sign_up(tab, "Ann Lee", "ann@example.com")
    create_board(tab, "Launch", ["To do", "Doing", "Done"])
    add_card(tab, "To do", "Write the spec")
    add_card(tab, "To do", "Book the venue")

    drag(tab, card(tab, "Write the spec"), column(tab, "Done").locator("ol"))
    expect(card(tab, "Write the spec", "Done")).to_be_visible()
    expect(card(tab, "Write the spec", "To do")).to_have_count(0)
    page.wait_for_load_state("networkidle")
    page.reload()
    expect(card(tab, "Write the spec", "Done")).to_be_visible()
    expect(card(tab, "Book the venue", "To do")).to_be_visible()

    # the order within a list is kept too
    add_card(tab, "Done", "Celebrate")
    drag(tab, card(tab, "Celebrate"), card(tab, "Write the spec"))
    expect(column(tab, "Done").locator('[data-testid="card"]').first).to_contain_text("Celebrate")
    page.wait_for_load_state("networkidle")
    page.reload()
    expect(column(tab, "Done").locator('[data-testid="card"]').first).to_contain_text("Celebrate")

    # sign out, and back in
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("E-mail").fill("ann@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name="Launch")).to_be_visible()


def _next_frames(page) -> None:
    """Wait until the browser has rendered two frames (dnd-kit measures drop areas after picking up)."""
    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def test_keyboard_moves_cards_and_lists(new_tab) -> None:
    tab = new_tab()
    page = tab.page
    sign_up(tab, "Kim Keys", "kim@example.com")
    create_board(tab, "Keys", ["Left", "Right"])
    add_card(tab, "Left", "Move me")

    card(tab, "Move me").focus()
    page.keyboard.press("Space")  # pick up
    expect(card(tab, "Move me")).to_have_class(re.compile("dragging"))
    _next_frames(page)
    page.keyboard.press("ArrowRight")
    expect(card(tab, "Move me", "Right")).to_be_visible()  # shown over the other list while held
    page.keyboard.press("Space")  # drop
    expect(card(tab, "Move me", "Right")).not_to_have_class(re.compile("dragging"))

    column(tab, "Right").locator("h2").focus()
    page.keyboard.press("Space")
    expect(column(tab, "Right")).to_have_class(re.compile("dragging"))
    _next_frames(page)
    page.keyboard.press("ArrowLeft")
    expect(page.get_by_text("List “Right” is over list “Left”.")).to_be_attached()  # the screen-reader announcement
    page.keyboard.press("Space")
    expect(page.locator('[data-testid="list"]').first).to_have_attribute("data-list-name", "Right")
    page.wait_for_load_state("networkidle")
    page.reload()
    expect(page.locator('[data-testid="list"]').first).to_have_attribute("data-list-name", "Right")
    expect(card(tab, "Move me", "Right")).to_be_visible()


def test_card_dialog_edits_are_saved(new_tab) -> None:
    tab = new_tab()
    page = tab.page
    sign_up(tab, "Dee Editor", "dee@example.com")
    board_id = create_board(tab, "Edits", ["Backlog"])
    add_card(tab, "Backlog", "Draft")
    card(tab, "Draft").click()
    dialog = page.get_by_role("dialog")
    expect(page).to_have_url(re.compile(f"/b/{board_id}/c/"))

    dialog.get_by_label("Title", exact=True).fill("Final plan")
    dialog.get_by_label("Title", exact=True).press("Enter")
    dialog.get_by_role("button", name="Edit description").click()
    # sanitising parses the hostile <img onerror> inertly; the CSP refuses even to compile its handler
    tab.expect_csp("inline event handler")
    dialog.get_by_label("Description (markdown)").fill("Plan **bold** step\n\n<img src=x onerror=alert(2)>\n\n- one\n- two")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator(".description strong")).to_have_text("bold")
    expect(dialog.locator(".description li")).to_have_count(2)
    expect(dialog.locator(".description img[onerror]")).to_have_count(0)

    dialog.get_by_label("New label name").fill("Urgent")
    dialog.get_by_role("button", name="Add label").click()
    expect(dialog.get_by_role("button", name="Urgent ✓")).to_be_visible()
    dialog.get_by_role("button", name="Dee Editor").click()
    expect(dialog.get_by_role("button", name="Dee Editor ✓")).to_be_visible()
    dialog.get_by_label("Due date").fill("2020-01-02T10:00")
    dialog.get_by_label("New checklist title").fill("Steps")
    dialog.get_by_role("button", name="Add checklist").click()
    dialog.get_by_label("New item in Steps").fill("Ask legal")
    dialog.get_by_label("New item in Steps").press("Enter")
    dialog.get_by_label("New item in Steps").fill("Ship")
    dialog.get_by_label("New item in Steps").press("Enter")
    dialog.get_by_role("checkbox", name="Ask legal").check()
    expect(dialog.get_by_text("1/2")).to_be_visible()
    expect(dialog.locator(".activity li").first).to_be_visible()

    page.keyboard.press("Escape")
    tile = card(tab, "Final plan")
    expect(tile.locator(".label-chip")).to_have_text("Urgent")
    expect(tile.locator(".due-overdue")).to_be_visible()
    expect(tile).to_contain_text("☑ 1/2")
    expect(tile.locator(".avatar")).to_have_count(1)

    page.reload()
    tile = card(tab, "Final plan")
    expect(tile.locator(".due-overdue")).to_be_visible()
    expect(tile).to_contain_text("☑ 1/2")
    tile.click()
    expect(page.get_by_role("dialog").locator(".description strong")).to_have_text("bold")
    # the card's URL opens it directly
    url = page.url
    page.goto(tab.url + "/")
    page.goto(url)
    expect(page.get_by_role("dialog").get_by_label("Title", exact=True)).to_have_value("Final plan")
    assert tab.dialogs == []


def _invite(owner, other, name: str, email: str, role: str = "member") -> None:
    """Owner makes an invitation link on the members screen; the other signs up and opens it."""
    page = owner.page
    page.get_by_role("link", name="Members").click()
    page.get_by_label("Invitation role").select_option(role)
    page.get_by_role("button", name="Create invitation link").click()
    link = page.get_by_label("Invitation link").input_value()
    sign_up(other, name, email)
    other.page.goto(link)
    expect(other.page.get_by_role("combobox", name="Workspace")).to_have_value(re.compile(".+"))


def test_comment_with_mention_autocomplete(new_tab) -> None:
    ann, bob = new_tab(), new_tab()
    sign_up(ann, "Ann Mentions", "ann.m@example.com")
    _invite(ann, bob, "Bob Stone", "bob.stone@example.com")
    ann.page.reload()
    expect(ann.page.get_by_text("bob.stone@example.com")).to_be_visible()
    ann.page.get_by_role("link", name="Orbitask").click()
    create_board(ann, "Talk", ["Inbox"])
    add_card(ann, "Inbox", "Discuss")
    card(ann, "Discuss").click()
    box = ann.page.get_by_role("dialog").get_by_label("Comment", exact=True)
    box.press_sequentially("Please review, @bo")
    expect(ann.page.get_by_role("listbox", name="People").get_by_role("option", name=re.compile("Bob Stone"))).to_be_visible()
    box.press("Enter")
    expect(box).to_have_value("Please review, @Bob Stone ")
    ann.page.get_by_role("dialog").get_by_role("button", name="Comment").click()
    comment = ann.page.get_by_test_id("comment")
    expect(comment).to_contain_text("mentions Bob Stone")
    expect(comment).to_contain_text("Please review, @Bob Stone")
    ann.page.keyboard.press("Escape")
    expect(card(ann, "Discuss").locator(".badge[title=Comments]")).to_have_text("1")


def test_board_members_are_added_from_the_workspace_and_others_are_pointed_to_an_invitation(new_tab) -> None:
    ann, gus, cleo = new_tab(), new_tab(), new_tab()
    sign_up(cleo, "Cleo Elsewhere", "cleo.elsewhere@example.com")  # has an account, not in Ann's workspace
    sign_up(ann, "Ann Admin", "ann.admin@example.com")
    _invite(ann, gus, "Gus Guest", "gus.guest@example.com", role="guest")
    ann.page.get_by_role("link", name="Orbitask").click()
    board_id = create_board(ann, "Guests welcome", ["Todo"])
    gus.go(f"/b/{board_id}")
    expect(gus.page.get_by_text("This board does not exist, or you have no access to it.")).to_be_visible()

    ann.page.get_by_role("link", name="Board members").click()
    dialog = ann.page.get_by_role("dialog", name="Board members")
    expect(dialog.get_by_test_id("board-member")).to_have_text([re.compile("Ann Admin")])
    # only people already in the workspace are offered; everyone else is pointed to an invitation link
    person = dialog.get_by_label("Person to add")
    expect(person.locator("option")).to_have_text(["Gus Guest (gus.guest@example.com)"])
    expect(dialog.get_by_test_id("invite-hint")).to_contain_text("invitation link")
    expect(dialog.get_by_test_id("invite-hint").get_by_role("link", name="Members page")).to_have_attribute(
        "href", re.compile(r"^/w/[0-9a-f-]{36}/members$"))
    assert "cleo" not in dialog.inner_text().lower()

    dialog.get_by_label("Board role").select_option("commenter")
    dialog.get_by_role("button", name="Add to board").click()
    gus_row = dialog.get_by_test_id("board-member").filter(has_text="Gus Guest")
    expect(gus_row.get_by_label("Board role of Gus Guest")).to_have_value("commenter")
    expect(dialog.get_by_text("Everyone in this workspace is on this board already.")).to_be_visible()
    gus.page.reload()
    expect(gus.page.get_by_role("heading", name="Guests welcome")).to_be_visible()

    gus_row.get_by_role("button", name="Remove").click()
    expect(dialog.get_by_test_id("board-member")).to_have_count(1)
    expect(person.locator("option")).to_have_text(["Gus Guest (gus.guest@example.com)"])
    dialog.get_by_test_id("invite-hint").get_by_role("link", name="Members page").click()
    expect(ann.page.get_by_role("heading", name="Members")).to_be_visible()


def test_two_users_see_each_others_changes_live(new_tab) -> None:
    ann, bob = new_tab(), new_tab()
    sign_up(ann, "Ann Live", "ann.live@example.com")
    _invite(ann, bob, "Bob Live", "bob.live@example.com")
    ann.page.get_by_role("link", name="Orbitask").click()
    board_id = create_board(ann, "Together", ["Todo", "Done"])
    add_card(ann, "Todo", "Shared task")
    bob.go(f"/b/{board_id}")
    expect(card(bob, "Shared task", "Todo")).to_be_visible()
    expect(bob.page.get_by_test_id("live-status")).to_contain_text("Live")
    expect(ann.page.locator(".presence .avatar")).to_have_count(1)

    add_card(ann, "Todo", "From Ann")
    expect(card(bob, "From Ann", "Todo")).to_be_visible()

    drag(bob, card(bob, "Shared task"), column(bob, "Done").locator("ol"))
    expect(card(ann, "Shared task", "Done")).to_be_visible()

    add_card(bob, "Done", "From Bob")
    expect(card(ann, "From Bob", "Done")).to_be_visible()

    card(ann, "From Bob").click()
    # typing in the open dialog while others change the board: focus and text stay put
    comment_box = ann.page.get_by_role("dialog").get_by_label("Comment", exact=True)
    comment_box.press_sequentially("Half a thou")
    add_card(bob, "Todo", "Another from Bob")
    expect(card(ann, "Another from Bob", "Todo")).to_be_attached()
    expect(comment_box).to_be_focused()
    expect(comment_box).to_have_value("Half a thou")
    ann.page.get_by_role("dialog").get_by_label("Title", exact=True).fill("Renamed by Ann")
    ann.page.get_by_role("dialog").get_by_label("Title", exact=True).press("Enter")
    expect(card(bob, "Renamed by Ann", "Done")).to_be_visible()


def test_markup_in_a_title_renders_as_text(new_tab) -> None:
    tab = new_tab()
    sign_up(tab, "Xena Safe", "xena@example.com")
    create_board(tab, "<b>Board</b>", ["List"])
    title = "<img src=x onerror=alert(1)>"
    add_card(tab, "List", title)
    tile = card(tab, title)
    expect(tile.locator(".card-title")).to_have_text(title)
    expect(tab.page.locator("img")).to_have_count(0)
    tile.click()
    expect(tab.page.get_by_role("dialog").get_by_label("Title", exact=True)).to_have_value(title)
    tab.page.reload()
    expect(card(tab, title).locator(".card-title")).to_have_text(title)
    expect(tab.page.get_by_role("heading", name="<b>Board</b>")).to_be_visible()
    assert tab.dialogs == []


def test_a_failed_change_is_undone_with_a_message(new_tab) -> None:
    tab = new_tab()
    page = tab.page
    sign_up(tab, "Rolf Back", "rolf@example.com")
    create_board(tab, "Fragile", ["A", "B"])
    add_card(tab, "A", "Stays put")
    problem = '{"type":"https://orbitask.dev/problems/conflict","title":"Conflict","status":409,"detail":"Nope."}'
    page.route("**/api/v1/cards/*/move", lambda route: route.fulfill(
        status=409, body=problem, headers={"content-type": "application/problem+json"}))
    drag(tab, card(tab, "Stays put"), column(tab, "B").locator("ol"))
    expect(page.get_by_test_id("toast")).to_contain_text("Could not move the card: Nope.")
    expect(card(tab, "Stays put", "A")).to_be_visible()
    expect(card(tab, "Stays put", "B")).to_have_count(0)


def test_usable_on_a_375_px_phone(new_tab) -> None:
    tab = new_tab(width=375, height=740)
    page = tab.page
    sign_up(tab, "Pat Phone", "pat@example.com")
    create_board(tab, "Pocket", ["Today", "Later"])
    add_card(tab, "Today", "Call the bank")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page scrolls sideways: {width}px wide"
    card(tab, "Call the bank").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Title", exact=True)).to_be_visible()
    box = dialog.get_by_label("Title", exact=True).bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 375
    dialog.get_by_label("Move to list").select_option(label="Later")
    page.keyboard.press("Escape")
    expect(card(tab, "Call the bank", "Later")).to_be_attached()


def test_my_tasks_lists_cards_assigned_to_me(new_tab) -> None:
    tab = new_tab()
    page = tab.page
    sign_up(tab, "Mia Tasks", "mia@example.com")
    create_board(tab, "Mine", ["Now"])
    add_card(tab, "Now", "Assigned one")
    add_card(tab, "Now", "Not mine")
    card(tab, "Assigned one").click()
    page.get_by_role("dialog").get_by_role("button", name="Mia Tasks").click()
    expect(page.get_by_role("dialog").get_by_role("button", name="Mia Tasks ✓")).to_be_visible()
    page.keyboard.press("Escape")
    page.get_by_role("link", name="My tasks").click()
    expect(page.get_by_role("link", name="Assigned one")).to_be_visible()
    expect(page.get_by_role("link", name="Not mine")).to_have_count(0)
    page.get_by_role("link", name="Assigned one").click()
    expect(page.get_by_role("dialog").get_by_label("Title", exact=True)).to_have_value("Assigned one")


def test_filters_hide_cards_and_live_in_the_url(new_tab) -> None:
    tab = new_tab()
    page = tab.page
    sign_up(tab, "Fay Filter", "fay@example.com")
    create_board(tab, "Sieve", ["All"])
    add_card(tab, "All", "Apple pie")
    add_card(tab, "All", "Banana bread")
    page.get_by_label("Filter cards by text").fill("apple")
    expect(card(tab, "Banana bread")).to_have_count(0)
    expect(card(tab, "Apple pie")).to_be_visible()
    expect(page).to_have_url(re.compile(r"\?q=apple"))
    page.reload()
    expect(card(tab, "Banana bread")).to_have_count(0)
    page.get_by_role("button", name="Clear").click()
    expect(card(tab, "Banana bread")).to_be_visible()


def test_a_lost_connection_catches_up_on_reconnect(new_tab) -> None:
    ann, bob = new_tab(), new_tab()
    sign_up(ann, "Ann Offline", "ann.off@example.com")
    _invite(ann, bob, "Bob Online", "bob.on@example.com")
    ann.page.get_by_role("link", name="Orbitask").click()
    board_id = create_board(ann, "Flaky network", ["Todo"])
    sockets: dict[str, object] = {"count": 0}

    def route(ws) -> None:  # noqa: ANN001 - Playwright's WebSocketRoute
        sockets["count"] += 1
        if sockets["count"] == 2:  # the first reconnect hangs: accepted, but no server behind it
            sockets["held"] = ws
            return
        ws.connect_to_server()
        sockets["live"] = ws

    ann.page.route_web_socket(re.compile(r"/api/v1/ws"), route)
    ann.page.reload()
    expect(ann.page.get_by_test_id("live-status")).to_contain_text("Live")
    bob.go(f"/b/{board_id}")
    expect(bob.page.get_by_test_id("live-status")).to_contain_text("Live")

    sockets["live"].close()  # the network drops Ann's socket
    expect(ann.page.get_by_test_id("live-status")).to_contain_text("○ Offline — reconnecting")  # trying again, held
    for _ in range(100):  # bounded poll; Playwright runs our route handler while we wait on the page
        if "held" in sockets:
            break
        ann.page.wait_for_timeout(50)
    add_card(bob, "Todo", "Added while Ann was away")
    expect(card(ann, "Added while Ann was away")).to_have_count(0)

    sockets["held"].close()  # the network is back: the next connection reaches the server
    expect(card(ann, "Added while Ann was away", "Todo")).to_be_visible()
    expect(ann.page.get_by_test_id("live-status")).to_contain_text("Live")
    assert sockets["count"] == 3


def _png(width: int, height: int) -> bytes:
    """A small real PNG (an RGB gradient): the server sniffs it and makes a WebP thumbnail of it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 4 % 256, 90, (200 - y * 3) % 256)) for x in range(width)) for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _files(page, files: list[tuple[str, str, bytes]]):  # noqa: ANN001, ANN202 - Playwright types
    """A DataTransfer carrying files, as a drag from the desktop brings (name, type, bytes)."""
    encoded = [[name, kind, base64.b64encode(data).decode()] for name, kind, data in files]
    return page.evaluate_handle(
        """files => {
            const dt = new DataTransfer();
            for (const [name, type, b64] of files)
                dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name, { type }));
            return dt;
        }""",
        encoded,
    )


def test_attachments_drop_preview_cover_and_delete(new_tab) -> None:
    ann, again = new_tab(), new_tab()
    page = ann.page
    sign_up(ann, "Ann Files", "ann.files@example.com")
    board_id = create_board(ann, "Files", ["Inbox"])
    add_card(ann, "Inbox", "Mock-ups")
    # the same person in a second window sees every change live
    again.go("/signin")
    again.page.get_by_label("E-mail").fill("ann.files@example.com")
    again.page.get_by_label("Password").fill(PASSWORD)
    again.page.get_by_role("button", name="Sign in").click()
    expect(again.page.get_by_label("New board name")).to_be_visible()
    again.go(f"/b/{board_id}")
    expect(again.page.get_by_test_id("live-status")).to_contain_text("Live")
    uploads: list[str] = []
    page.on("request", lambda r: r.method == "POST" and r.url.endswith("/attachments") and uploads.append(r.url))

    # a PNG dropped on the card's tile: the tile lights up while files are over it, then counts the file
    png = _png(64, 40)
    tile = card(ann, "Mock-ups")
    drop = _files(page, [("mock-up.png", "image/png", png)])
    tile.dispatch_event("dragenter", {"dataTransfer": drop})
    expect(tile).to_have_class(re.compile("drop-target"))
    tile.dispatch_event("drop", {"dataTransfer": drop})
    expect(tile).not_to_have_class(re.compile("drop-target"))
    expect(tile.locator(".badge[title=Attachments]")).to_have_text("1")
    expect(card(again, "Mock-ups").locator(".badge[title=Attachments]")).to_have_text("1")

    # the dialog lists it with a real preview (the server's WebP thumbnail) and a working link
    tile.click()
    dialog = page.get_by_role("dialog")
    shot = dialog.get_by_test_id("attachment").filter(has_text="mock-up.png")
    expect(shot).to_contain_text(re.compile(r"\d+(\.\d)? K?B · Ann Files · "))  # size, who, when
    thumb = shot.locator("img")
    expect(thumb).to_have_attribute("src", re.compile(r"^/api/v1/attachments/[0-9a-f-]+/thumbnail$"))
    thumb_src = thumb.get_attribute("src")
    assert thumb.evaluate("img => img.decode().then(() => img.naturalWidth)") == 64
    href = shot.get_by_role("link", name="mock-up.png").get_attribute("href")
    got = page.request.get(ann.url + href)
    assert got.status == 200 and got.headers["content-type"] == "image/png" and got.body() == png

    # make it the cover: the tile shows the thumbnail, here, in the other window, and after a reload
    shot.get_by_role("button", name="Make cover").click()
    expect(shot.get_by_text("Cover", exact=True)).to_be_visible()
    expect(shot.get_by_role("button", name="Remove cover")).to_be_visible()
    page.keyboard.press("Escape")
    cover = tile.locator("img.card-cover")
    expect(cover).to_have_attribute("src", thumb_src)
    assert cover.evaluate("img => img.decode().then(() => img.naturalWidth)") == 64
    expect(card(again, "Mock-ups").locator("img.card-cover")).to_be_visible()
    page.reload()
    expect(card(ann, "Mock-ups").locator("img.card-cover")).to_be_visible()

    # a second file through the picker in the dialog; no preview, so no cover for it
    card(ann, "Mock-ups").click()
    dialog.locator("input[type=file]").set_input_files(files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}])
    notes = dialog.get_by_test_id("attachment").filter(has_text="notes.txt")
    expect(notes.locator(".file-kind")).to_have_text("TXT")
    expect(notes.get_by_role("button", name="Make cover")).to_have_count(0)
    expect(card(ann, "Mock-ups").locator(".badge[title=Attachments]")).to_have_text("2")
    expect(card(again, "Mock-ups").locator(".badge[title=Attachments]")).to_have_text("2")

    # too large: refused in the browser, never sent; a refusal from the server is explained too
    huge = page.evaluate_handle(
        "() => { const dt = new DataTransfer(); dt.items.add(new File([new Uint8Array(25 * 1024 * 1024 + 1)], 'huge.bin')); return dt; }"
    )
    dialog.dispatch_event("drop", {"dataTransfer": huge})
    expect(page.get_by_test_id("toast").filter(has_text="huge.bin")).to_contain_text("files can be at most 25 MB")
    quota = ('{"type":"https://orbitask.dev/problems/quota-exceeded","title":"Storage quota exceeded","status":413,'
             '"used_bytes":10485000,"quota_bytes":10485760}')
    page.route("**/api/v1/cards/*/attachments", lambda route: route.fulfill(
        status=413, body=quota, headers={"content-type": "application/problem+json"},
    ) if route.request.method == "POST" else route.continue_())
    dialog.dispatch_event("drop", {"dataTransfer": _files(page, [("more.png", "image/png", png)])})
    expect(page.get_by_test_id("toast").filter(has_text="more.png")).to_contain_text("does not fit in this workspace's storage")
    page.unroute("**/api/v1/cards/*/attachments")
    expect(dialog.get_by_test_id("attachment")).to_have_count(2)
    assert len(uploads) == 3  # the PNG, the notes, the refused one; never the huge one

    # delete the cover's file (asked first): the cover goes everywhere, the count drops, the link is dead
    shot.get_by_role("button", name="Delete mock-up.png").click()
    shot.get_by_role("button", name="Yes, delete").click()
    expect(dialog.get_by_test_id("attachment")).to_have_count(1)
    page.keyboard.press("Escape")
    tile = card(ann, "Mock-ups")
    expect(tile.locator("img.card-cover")).to_have_count(0)
    expect(tile.locator(".badge[title=Attachments]")).to_have_text("1")
    other_tile = card(again, "Mock-ups")
    expect(other_tile.locator("img.card-cover")).to_have_count(0)
    expect(other_tile.locator(".badge[title=Attachments]")).to_have_text("1")
    assert page.request.get(ann.url + href).status == 404
    assert ann.dialogs == []
