"""Browser fixtures: one real `orbitask serve` and one headless Debian Chromium per test module."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from tests.conftest import PASSWORD
from tests.e2e.browser import launch, require_bundle
from tests.servers import orbitask_server

EXPECT_TIMEOUT_MS = 15000  # generous: CI machines are busy; the live-update bound (2 s) is asserted separately


@pytest.fixture(scope="module")
def web_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real server on 127.0.0.1 serving the built web app."""
    require_bundle()
    with orbitask_server(tmp_path_factory.mktemp("web")) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Chromium from Debian's package."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@dataclass
class Tab:
    """A page in its own browser context (its own cookies: one user), recording what must not happen."""

    page: object
    url: str
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    csp: list[str] = field(default_factory=list)

    def go(self, path: str) -> None:
        """Open a path of the app."""
        self.page.goto(self.url + path)


@pytest.fixture
def new_tab(browser: object, web_url: str) -> Iterator[Callable[..., Tab]]:
    """Open fresh contexts (one per user); page errors, CSP reports and alert() calls are recorded."""
    contexts = []

    def make(width: int = 1280, height: int = 800) -> Tab:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        context.set_default_timeout(EXPECT_TIMEOUT_MS * 2)
        page = context.new_page()
        tab = Tab(page, web_url)

        def on_dialog(dialog: object) -> None:
            tab.dialogs.append(dialog.message)
            dialog.dismiss()

        def on_console(msg: object) -> None:
            if re.search(r"Content Security Policy|Refused to", msg.text):
                tab.csp.append(msg.text)

        page.on("dialog", on_dialog)
        page.on("console", on_console)
        page.on("pageerror", lambda exc: tab.errors.append(str(exc)))
        return tab

    yield make
    for context in contexts:
        context.close()


def sign_up(tab: Tab, name: str, email: str) -> None:
    """Create an account through the sign-up screen; lands on the personal workspace's boards."""
    from playwright.sync_api import expect

    page = tab.page
    tab.go("/signup")
    page.get_by_label("Name").fill(name)
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_label("New board name")).to_be_visible()


def create_board(tab: Tab, name: str, lists: list[str]) -> str:
    """A board with lists, made through the UI; returns its id."""
    from playwright.sync_api import expect

    page = tab.page
    page.get_by_label("New board name").fill(name)
    page.get_by_role("button", name="Create board").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    for list_name in lists:
        page.get_by_label("New list name").fill(list_name)
        page.get_by_label("New list name").press("Enter")
        expect(column(tab, list_name).and_(tab.page.locator(":not(.pending)"))).to_be_visible()
    return page.url.rstrip("/").split("/b/")[1].split("/")[0]


def column(tab: Tab, name: str) -> object:
    """The list column with this name."""
    return tab.page.locator(f'[data-testid="list"][data-list-name="{name}"]')


def add_card(tab: Tab, list_name: str, title: str) -> None:
    """Add a card inline and wait until the server has it (no longer pending)."""
    from playwright.sync_api import expect

    col = column(tab, list_name)
    opener = col.get_by_role("button", name="+ Add a card")
    if opener.count():
        opener.click()
    col.get_by_label("Card title").fill(title)
    col.get_by_label("Card title").press("Enter")
    expect(col.locator('[data-testid="card"]:not(.pending)', has_text=title)).to_be_visible()


def card(tab: Tab, title: str, list_name: str | None = None) -> object:
    """A card tile by its title (optionally within a list)."""
    scope = column(tab, list_name) if list_name else tab.page
    return scope.locator('[data-testid="card"]', has_text=title)


def drag(tab: Tab, source: object, target: object) -> None:
    """Drag with the mouse in small steps, as a person does (dnd-kit needs movement to start)."""
    page = tab.page
    a = source.bounding_box()
    b = target.bounding_box()
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    page.mouse.down()
    page.mouse.move(a["x"] + a["width"] / 2 + 10, a["y"] + a["height"] / 2 + 10, steps=3)
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=15)
    page.mouse.up()


