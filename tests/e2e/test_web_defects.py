"""The web app's first hour (issue 25, defects 1, 2, 6, 7, 8, 9) in a real browser against a real server:
invitations and card links survive signing in or up, notification links open the card, a lost session
signs in again where the person is, @mentions read as names, the live status notices a frozen server,
and addresses that lead nowhere say so with a way home."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.e2e.browser import require_bundle
from tests.e2e.conftest import EXPECT_TIMEOUT_MS, Tab, add_card, card, column, create_board, sign_up
from tests.servers import free_port, orbitask_server

# the client gives a silent socket up after 10 s and checks every 2.5 s; a loaded machine needs more
FROZEN_NOTICED_MS = 45_000


@dataclass
class Served:
    url: str
    data_dir: Path
    port: int


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A real server with ORBITASK_PUBLIC_URL unset (links follow --port), running its jobs in-process."""
    require_bundle()
    data_dir, port = tmp_path_factory.mktemp("defects"), free_port()
    with orbitask_server(data_dir, port=port) as url:
        yield Served(url, data_dir, port)


@pytest.fixture(scope="module")
def web_url(served: Served) -> str:
    """The browser fixtures' server is this module's."""
    return served.url


def sign_in(tab: Tab, email: str) -> None:
    """Fill in the sign-in screen the tab shows and send it."""
    page = tab.page
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def invitation_link(owner: Tab) -> str:
    """A member invitation link made on the owner's Members page."""
    page = owner.page
    page.get_by_role("link", name="Members").click()
    page.get_by_label("Invitation role").select_option("member")
    page.get_by_role("button", name="Create invitation link").click()
    field = page.get_by_label("Invitation link")
    expect(field).to_have_value(re.compile("/invite/"))
    return field.input_value()


def card_dialog(tab: Tab) -> object:
    return tab.page.get_by_role("dialog", name=re.compile("^Card"))


def test_an_invitation_survives_sign_up_and_sign_in_and_adds_no_workspace_of_ones_own(new_tab: Callable[..., Tab]) -> None:
    ann = new_tab()
    sign_up(ann, "Ann Host", "ann.host@example.com")
    workspace_id = ann.page.url.rstrip("/").split("/w/")[1]
    link = invitation_link(ann)

    ivy = new_tab()
    ivy.page.goto(link)  # signed out: the sign-in page says who invites to what
    invited = "You were invited to Ann Host's workspace by Ann Host."
    expect(ivy.page.get_by_test_id("invitation")).to_contain_text(invited)
    ivy.page.get_by_role("link", name="Create an account").click()
    expect(ivy.page.get_by_role("heading", name="Create your account")).to_be_visible()
    expect(ivy.page.get_by_test_id("invitation")).to_contain_text(invited)
    ivy.page.get_by_label("Name").fill("Ivy New")
    ivy.page.get_by_label("E-mail").fill("ivy.new@example.com")
    ivy.page.get_by_label("Password").fill(PASSWORD)
    ivy.page.get_by_role("button", name="Sign up").click()
    expect(ivy.page).to_have_url(re.compile(f"/w/{workspace_id}$"))
    expect(ivy.page.get_by_role("heading", name="Ann Host's workspace")).to_be_visible()
    # joined, and no empty "Ivy New's workspace" beside it
    options = ivy.page.get_by_role("combobox", name="Workspace").locator("option")
    expect(options).to_have_text(["Ann Host's workspace", "+ New workspace…"])

    carl = new_tab()  # has an account already
    sign_up(carl, "Carl Known", "carl.known@example.com")
    carl.page.get_by_role("button", name="Sign out").click()
    carl.page.goto(link)
    expect(carl.page.get_by_test_id("invitation")).to_contain_text(invited)
    sign_in(carl, "carl.known@example.com")
    expect(carl.page).to_have_url(re.compile(f"/w/{workspace_id}$"))
    expect(carl.page.get_by_role("heading", name="Ann Host's workspace")).to_be_visible()


def notification_url(tab: Tab, kind: str) -> str:
    """The link of the tab's user's newest notification of `kind`, once the server has made it."""
    for _ in range(300):  # bounded poll: notifications are made by a job, after the comment's commit
        got = tab.page.request.get(tab.url + "/api/v1/notifications")
        assert got.ok, got.text()
        found = [n for n in got.json()["items"] if n["kind"] == kind]
        if found:
            return found[0]["url"]
        tab.page.wait_for_timeout(100)
    raise AssertionError(f"no {kind} notification arrived")


def test_a_mention_by_name_notifies_and_the_link_opens_the_card(new_tab: Callable[..., Tab], web_url: str) -> None:
    ann, bob = new_tab(), new_tab()
    sign_up(ann, "Ann Mentions", "ann.m@example.com")
    link = invitation_link(ann)
    sign_up(bob, "Bob Stone", "bob.stone@example.com")
    bob.page.goto(link)
    expect(bob.page.get_by_role("heading", name="Ann Mentions's workspace")).to_be_visible()
    ann.page.get_by_role("link", name="Orbitask").click()
    board_id = create_board(ann, "Talk", ["Inbox"])
    add_card(ann, "Inbox", "Discuss")
    card(ann, "Discuss").click()
    dialog = card_dialog(ann)
    card_id = ann.page.url.rstrip("/").split("/c/")[1]

    box = dialog.get_by_label("Comment", exact=True)
    box.press_sequentially("Please review, @bo")
    ann.page.get_by_role("listbox", name="People").get_by_role("option", name=re.compile("Bob Stone")).click()
    expect(box).to_have_value("Please review, @Bob Stone ")  # the name, not the e-mail address
    dialog.get_by_role("button", name="Comment", exact=True).click()
    comment = dialog.get_by_test_id("comment")
    expect(comment).to_contain_text("Please review, @Bob Stone")
    expect(comment).to_contain_text("mentions Bob Stone")  # the server knows who was meant
    assert "bob.stone@example.com" not in comment.inner_text()

    # Bob's notification links to the card where this server is served (ORBITASK_PUBLIC_URL is unset)
    url = notification_url(bob, "mentioned")
    assert url == f"{web_url}/b/{board_id}/c/{card_id}"
    bob.page.goto(url)
    expect(card_dialog(bob).get_by_label("Title", exact=True)).to_have_value("Discuss")
    # opened signed out, the link leads through sign-in to the card, not to the home page
    elsewhere = new_tab()
    elsewhere.page.goto(url)
    sign_in(elsewhere, "bob.stone@example.com")
    expect(card_dialog(elsewhere).get_by_label("Title", exact=True)).to_have_value("Discuss")
    # links already e-mailed in the old form still arrive
    bob.page.goto(f"{web_url}/boards/{board_id}?card={card_id}")
    expect(bob.page).to_have_url(url)
    expect(card_dialog(bob).get_by_label("Title", exact=True)).to_have_value("Discuss")

    # Ann edits her comment: Escape gives the edit up (the card stays open), Save keeps it, marked edited
    comment.get_by_role("button", name="Edit", exact=True).click()
    edit = comment.get_by_label("Edit comment")
    expect(edit).to_be_focused()
    edit.fill("Never mind")
    edit.press("Escape")
    expect(comment.get_by_label("Edit comment")).to_have_count(0)
    expect(comment).to_contain_text("Please review, @Bob Stone")
    expect(dialog).to_be_visible()
    comment.get_by_role("button", name="Edit", exact=True).click()
    edit.fill("Please review today, @Bob Stone")
    comment.get_by_role("button", name="Save").click()
    expect(comment).to_contain_text("Please review today, @Bob Stone")
    expect(comment).to_contain_text("(edited)")
    expect(comment).to_contain_text("mentions Bob Stone")

    # the activity names who was assigned
    dialog.get_by_role("button", name="Bob Stone", exact=True).click()
    expect(dialog.get_by_role("button", name="Bob Stone ✓")).to_be_visible()
    expect(dialog.locator(".activity")).to_contain_text("Ann Mentions assigned Bob Stone")
    ann.page.reload()
    expect(card_dialog(ann).get_by_test_id("comment")).to_contain_text("(edited)")


def test_a_lost_session_signs_in_again_in_place_and_keeps_the_comment(new_tab: Callable[..., Tab], web_url: str) -> None:
    tab = new_tab()
    page = tab.page
    sign_up(tab, "Sam Session", "sam.session@example.com")
    create_board(tab, "Drafts", ["Inbox"])
    add_card(tab, "Inbox", "Reply")
    card(tab, "Reply").click()
    box = card_dialog(tab).get_by_label("Comment", exact=True)
    box.fill("Half-written thoughts")
    # an unsent comment survives closing the card and reloading the page
    page.keyboard.press("Escape")
    expect(card_dialog(tab)).to_have_count(0)
    page.reload()
    card(tab, "Reply").click()
    expect(box).to_have_value("Half-written thoughts")

    # the session ends elsewhere (signed out with this browser's cookies), as a revoked or expired one does
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    ended = httpx.post(f"{web_url}/api/v1/auth/logout", cookies=cookies,
                       headers={"X-CSRF-Token": cookies["orbitask_csrf"]}, timeout=10)
    assert ended.status_code == 204, ended.text

    card_dialog(tab).get_by_role("button", name="Comment", exact=True).click()
    again = page.get_by_role("dialog", name="Sign in again")
    expect(again).to_contain_text("Your session has ended, Sam Session.")
    expect(again).to_contain_text("sam.session@example.com")
    assert "Authorization" not in page.locator("body").inner_text()  # no words meant for developers
    expect(box).to_have_value("Half-written thoughts")
    again.get_by_label("Password").fill(PASSWORD)
    again.get_by_role("button", name="Sign in").click()
    expect(again).to_have_count(0)
    # the comment that met the lost session is sent once signed in again
    expect(card_dialog(tab).get_by_test_id("comment")).to_contain_text("Half-written thoughts")
    expect(box).to_have_value("")
    page.reload()
    expect(card_dialog(tab).get_by_test_id("comment")).to_have_count(1)
    expect(box).to_have_value("")  # the draft went with the sending


def serve_pids(port: int) -> list[int]:
    """The `orbitask serve --port <port>` process and its descendants (uvicorn workers)."""
    roots = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in args and b"--port" in args and args[args.index(b"--port") + 1] == str(port).encode():
            roots.append(int(entry.name))
    assert len(roots) == 1, roots
    found, todo = [], list(roots)
    while todo:
        pid = todo.pop()
        found.append(pid)
        for task in Path(f"/proc/{pid}/task").iterdir():
            todo += [int(c) for c in (task / "children").read_text().split()]
    return found


def test_the_live_status_notices_a_frozen_server_and_comes_back(new_tab: Callable[..., Tab], served: Served) -> None:
    tab = new_tab()
    page = tab.page
    sign_up(tab, "Fran Frozen", "fran.frozen@example.com")
    create_board(tab, "Heartbeat", ["Todo"])
    status = page.get_by_test_id("live-status")
    expect(status).to_have_text("● Live")

    # a change on its way says so
    held: list[object] = []
    page.route("**/api/v1/lists/*/cards", lambda route: held.append(route))
    col = column(tab, "Todo")
    opener = col.get_by_role("button", name="+ Add a card")
    if opener.count():
        opener.click()
    col.get_by_label("Card title").fill("Slow one")
    col.get_by_label("Card title").press("Enter")
    expect(status).to_have_text("◌ Saving…")
    for _ in range(200):  # bounded poll: Playwright hands the request to the route handler while we wait
        if held:
            break
        page.wait_for_timeout(50)
    held[0].continue_()
    expect(status).to_have_text("● Live")
    page.unroute("**/api/v1/lists/*/cards")

    pids = serve_pids(served.port)
    try:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        # the socket stays open while the process is frozen: only the heartbeat can tell
        expect(status).to_have_text("○ Offline — reconnecting", timeout=FROZEN_NOTICED_MS)
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    expect(status).to_have_text("✓ Caught up", timeout=FROZEN_NOTICED_MS)
    expect(status).to_have_text("● Live", timeout=EXPECT_TIMEOUT_MS)
    expect(card(tab, "Slow one", "Todo")).to_be_visible()


def test_addresses_that_lead_nowhere_say_so_with_the_top_bar_and_a_way_home(new_tab: Callable[..., Tab]) -> None:
    tab = new_tab()
    page = tab.page
    tab.go("/no/such/page")  # signed out: no top bar, a way to sign in
    expect(page.get_by_role("heading", name="Nothing here")).to_be_visible()
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()

    sign_up(tab, "Nora Nowhere", "nora.nowhere@example.com")
    for path in ("/no/such/page", "/b/not-a-uuid", "/b/not-a-uuid/c/nor-this", "/w/nope/members",
                 f"/b/{uuid.uuid4()}", f"/b/{uuid.uuid4()}/c/{uuid.uuid4()}"):
        tab.go(path)
        expect(page.get_by_role("heading", name="Nothing here")).to_be_visible()
        expect(page.get_by_role("link", name="My tasks")).to_be_visible()  # the top bar
        expect(page.get_by_role("link", name="Go to your boards")).to_be_visible()
        text = page.locator("body").inner_text().lower()
        assert "uuid" not in text and "input should" not in text, f"{path}: {text}"
    page.get_by_role("link", name="Go to your boards").click()
    expect(page.get_by_label("New board name")).to_be_visible()


def test_an_unset_public_url_is_said_at_start_and_by_config_show(served: Served, tmp_path: Path) -> None:
    log = (served.data_dir / "server.log").read_text()
    assert f"ORBITASK_PUBLIC_URL is unset: links in e-mails and notifications use {served.url};" in log
    env = {k: v for k, v in os.environ.items() if k != "ORBITASK_PUBLIC_URL"}
    shown = subprocess.run(
        [sys.executable, "-m", "orbitask.cli", "config", "show"], capture_output=True, text=True, timeout=120,
        env={**env, "ORBITASK_DATA_DIR": str(tmp_path), "COLUMNS": "250"},
    )
    assert shown.returncode == 0, shown.stderr
    assert "unset (links use http://127.0.0.1:8000)" in shown.stdout
