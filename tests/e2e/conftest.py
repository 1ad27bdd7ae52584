"""Browser fixtures: one real `orbitask serve` and one headless Debian Chromium per test module.

Every page a test opens through `new_tab` (or itself, from a tab's context) records its uncaught errors
and Content Security Policy violations; the test fails when any was recorded, unless it declared the
violation it provokes with `Tab.expect_csp`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from tests.conftest import PASSWORD
from tests.e2e.browser import launch, require_bundle
from tests.servers import orbitask_server

EXPECT_TIMEOUT_MS = 15000  # generous bound on every outcome awaited (live updates too): tests say what, bench/ how fast
CSP_CONSOLE = re.compile(r"Content Security Policy|Refused to")
# Installed in every page and frame before the app's code: the violation event, should a console message be missed.
CSP_LISTENER = """addEventListener("securitypolicyviolation", (e) => window.__orbitaskCspViolation({
  directive: e.effectiveDirective, blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber, sample: e.sample,
}), true);"""
# Chromium's console words for what an inline violation refused, so one `expect_csp` pattern fits both records.
INLINE = {"script-src-attr": "inline event handler", "script-src-elem": "inline script",
          "style-src-attr": "inline style", "style-src-elem": "inline style"}
TABS = pytest.StashKey[list["Tab"]]()


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
    expected_csp: list[re.Pattern[str]] = field(default_factory=list)

    def go(self, path: str) -> None:
        """Open a path of the app."""
        self.page.goto(self.url + path)

    def expect_csp(self, pattern: str) -> None:
        """Let CSP violations matching `pattern` pass in this tab: the test provokes them on purpose."""
        self.expected_csp.append(re.compile(pattern))

    def faults(self) -> list[str]:
        """The uncaught page errors and the CSP violations no `expect_csp` pattern matches."""
        csp = [m for m in self.csp if not any(p.search(m) for p in self.expected_csp)]
        return [f"uncaught error: {e}" for e in self.errors] + [f"CSP violation: {m}" for m in csp]


def _violation(v: dict) -> str:
    """A `securitypolicyviolation` event in words."""
    what = INLINE.get(v["directive"], "inline code") if v["blocked"] == "inline" else v["blocked"]
    return f"(event) {what} refused by {v['directive']} at {v['source']}:{v['line']} {v['sample']!r}"


def _watch(context: object, tab: Tab) -> None:
    """Record the context's page errors, CSP violations and alert() calls, in any page it opens."""

    def on_dialog(dialog: object) -> None:
        tab.dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(msg: object) -> None:
        if CSP_CONSOLE.search(msg.text):
            tab.csp.append(f"(console) {msg.text} at {msg.location['url']}:{msg.location['lineNumber']}")

    def on_error(web_error: object) -> None:
        where = web_error.page.url if web_error.page else "a worker"
        stack = (web_error.error.stack or str(web_error.error)).splitlines()[:4]  # the message and where it was thrown
        tab.errors.append(f"{where}: " + "\n    ".join(stack))

    context.on("dialog", on_dialog)
    context.on("console", on_console)
    context.on("weberror", on_error)
    context.expose_binding("__orbitaskCspViolation", lambda _source, v: tab.csp.append(_violation(v)))
    context.add_init_script(CSP_LISTENER)


def _report(tabs: list[Tab], *, settle: bool) -> str:
    """What the tabs recorded that must not happen, one entry a line; empty when nothing was."""
    if settle:  # one round trip per open page delivers what the browser already sent
        for tab in tabs:
            for page in tab.page.context.pages:
                page.wait_for_function("true", timeout=EXPECT_TIMEOUT_MS)
    lines = [f"tab {n}: {fault}" for n, tab in enumerate(tabs, 1) for fault in tab.faults()]
    return "\n".join(lines)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail a browser test whose pages threw uncaught errors or broke the CSP, whatever it asserted itself."""
    tabs = item.stash.get(TABS, [])
    try:
        result = yield
    except (Exception, pytest.fail.Exception):
        report = _report(tabs, settle=False)
        if report:  # the page's own errors often explain the failure
            item.add_report_section("call", "page errors and CSP violations", report)
        raise
    report = _report(tabs, settle=True)
    if report:
        pytest.fail(f"the browser recorded uncaught page errors or CSP violations:\n{report}", pytrace=False)
    return result


@pytest.fixture
def new_tab(request: pytest.FixtureRequest, browser: object, web_url: str) -> Iterator[Callable[..., Tab]]:
    """Open fresh contexts (one per user); the test fails on any page error or unexpected CSP violation in them."""
    contexts = []
    tabs = request.node.stash.setdefault(TABS, [])

    def make(width: int = 1280, height: int = 800) -> Tab:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        context.set_default_timeout(EXPECT_TIMEOUT_MS * 2)
        tab = Tab(context.new_page(), web_url)  # still blank: the watch below sees everything it loads
        _watch(context, tab)
        tabs.append(tab)
        return tab

    yield make
    for context in contexts:
        context.close()


def fill_sign_up(tab: Tab, name: str, email: str) -> None:
    """Fill in the sign-up screen and send it."""
    page = tab.page
    tab.go("/signup")
    page.get_by_label("Name").fill(name)
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()


def sign_up(tab: Tab, name: str, email: str) -> None:
    """Create an account through the sign-up screen; lands on the personal workspace's boards."""
    from playwright.sync_api import expect

    fill_sign_up(tab, name, email)
    expect(tab.page.get_by_label("New board name")).to_be_visible()


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


