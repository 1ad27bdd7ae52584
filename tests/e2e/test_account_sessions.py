"""Sessions on the Account page, in Chromium: one person signed in from two browsers signs the other out,
and that browser lands on the sign-in page at its next request."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.e2e.conftest import Tab, sign_up


def test_signing_out_another_session_from_the_account_page(new_tab: Callable[..., Tab]) -> None:
    here, there = new_tab(), new_tab()
    sign_up(here, "Sol Two", "sol@example.com")
    there.go("/signin")
    there.page.get_by_label("E-mail").fill("sol@example.com")
    there.page.get_by_label("Password").fill(PASSWORD)
    there.page.get_by_role("button", name="Sign in").click()
    expect(there.page.get_by_label("New board name")).to_be_visible()

    here.go("/account")
    sessions = here.page.get_by_role("table", name="Signed-in devices")
    expect(sessions.get_by_role("row")).to_have_count(3)  # the header and two sessions
    expect(sessions.get_by_role("rowheader", name="This device")).to_have_count(1)
    expect(sessions).to_contain_text("127.0.0.1")
    # one "Sign out" button: the other session's, named after its device (this one has none)
    other = sessions.get_by_role("button", name="Sign out Chrome on Linux (127.0.0.1)")
    expect(other).to_have_count(1)
    other.click()
    expect(sessions.get_by_role("row")).to_have_count(2)

    there.page.reload()  # its next request
    expect(there.page.get_by_role("heading", name="Sign in")).to_be_visible()
    here.page.reload()
    expect(here.page.get_by_role("heading", name="Account")).to_be_visible()  # this one is still signed in
