"""Accounts in a real browser: a forgotten password reset through the link a real `orbitask serve` e-mails to a
real SMTP server, then signing in with the new password; and the Account page renaming its user (the top bar shows
the new name)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import require_bundle
from tests.e2e.conftest import EXPECT_TIMEOUT_MS, Tab, sign_up
from tests.mailserver import Mailbox
from tests.servers import free_port, orbitask_server

RESET_LINK = re.compile(r"https?://\S+/reset-password/[A-Za-z0-9_-]+")
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture(scope="module")
def web_url(tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox) -> Iterator[str]:
    """A real server that e-mails (its e-mail job running), signing people up at once (verification off)."""
    require_bundle()
    port = free_port()
    env = {"ORBITASK_SMTP_HOST": "127.0.0.1", "ORBITASK_SMTP_PORT": str(mailbox.port),  # type: ignore[attr-defined]
           "ORBITASK_PUBLIC_URL": f"http://127.0.0.1:{port}", "ORBITASK_WORKER_IN_SERVE": "on",
           "ORBITASK_WORKER_POLL_INTERVAL_SECONDS": "0.05", "ORBITASK_SIGNUP_VERIFICATION": "off"}
    with orbitask_server(tmp_path_factory.mktemp("recovery"), env=env, port=port) as url:
        yield url


def test_a_forgotten_password_is_reset_through_the_emailed_link(
    new_tab: Callable[..., Tab], mailbox: Mailbox, web_url: str
) -> None:
    sign_up(new_tab(), "Nora Reset", "nora@example.com")
    tab = new_tab()
    page = tab.page
    tab.go("/signin")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("E-mail").fill("nora@example.com")
    page.get_by_role("button", name="Send the link").click()
    sent = page.get_by_role("main").get_by_role("status")
    expect(sent).to_contain_text("If an account exists for nora@example.com, we sent a link")

    [message] = mailbox.wait_for("nora@example.com", 1, timeout_s=EXPECT_TIMEOUT_MS / 1000)
    link = RESET_LINK.search(message.get_body(("plain",)).get_content())
    assert link and link.group(0).startswith(web_url + "/reset-password/"), message.get_body(("plain",)).get_content()
    page.goto(link.group(0))
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill("not the same")
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_role("alert")).to_contain_text("The two passwords differ")
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_role("heading", name="Password changed")).to_be_visible()
    expect(page.get_by_role("main").get_by_role("status")).to_contain_text("signed out everywhere")

    page.get_by_role("link", name="Sign in").click()
    page.get_by_label("E-mail").fill("nora@example.com")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_label("New board name")).to_be_visible()  # signed in with the new password

    # the link worked once
    again = new_tab()
    again.page.goto(link.group(0))
    again.page.get_by_label("New password", exact=True).fill("yet another passphrase")
    again.page.get_by_label("New password again").fill("yet another passphrase")
    again.page.get_by_role("button", name="Set the new password").click()
    expect(again.page.get_by_role("alert")).to_contain_text("This link cannot be used")
    expect(again.page.get_by_role("link", name="Ask for a new link")).to_be_visible()


def test_the_account_page_renames_its_user(new_tab: Callable[..., Tab]) -> None:
    tab = new_tab()
    page = tab.page
    sign_up(tab, "Otto Name", "otto@example.com")
    page.get_by_role("link", name="Otto Name", exact=True).click()
    expect(page.get_by_role("heading", name="Account")).to_be_visible()
    profile = page.get_by_role("region", name="Profile")
    expect(profile.get_by_label("Name", exact=True)).to_have_value("Otto Name")
    profile.get_by_label("Name", exact=True).fill("Otto Renamed")
    profile.get_by_label("Language").select_option(label="Deutsch")
    profile.get_by_role("button", name="Save profile").click()
    expect(page.locator(".me-name")).to_have_text("Otto Renamed")  # the top bar
    expect(profile.get_by_label("Name", exact=True)).to_have_value("Otto Renamed")
    expect(profile.get_by_label("Language")).to_have_value("de")
