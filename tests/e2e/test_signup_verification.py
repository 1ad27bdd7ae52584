"""Sign-up by e-mailed link in a real browser: a real `orbitask serve` sends the link to a real SMTP server,
the page it opens makes the account and lands signed in; a used link, and a second link for an address
that has an account by then, say so and point the way on."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import require_bundle
from tests.e2e.conftest import EXPECT_TIMEOUT_MS, Tab, fill_sign_up
from tests.mailserver import Mailbox
from tests.servers import free_port, orbitask_server

LINK = re.compile(r"https?://\S+/verify/[A-Za-z0-9_-]+")


@pytest.fixture(scope="module")
def web_url(tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox) -> Iterator[str]:
    """A real server with e-mail configured (so sign-up verification is on by default), running its e-mail job."""
    require_bundle()
    port = free_port()
    env = {"ORBITASK_SMTP_HOST": "127.0.0.1", "ORBITASK_SMTP_PORT": str(mailbox.port),  # type: ignore[attr-defined]
           "ORBITASK_PUBLIC_URL": f"http://127.0.0.1:{port}", "ORBITASK_WORKER_IN_SERVE": "on",
           "ORBITASK_WORKER_POLL_INTERVAL_SECONDS": "0.05"}
    with orbitask_server(tmp_path_factory.mktemp("signup"), env=env, port=port) as url:
        yield url


def sign_up(tab: Tab, name: str, email: str) -> None:
    """Fill in the sign-up screen; the answer is a link e-mailed, not a session."""
    fill_sign_up(tab, name, email)
    page = tab.page
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text(f"We sent a link to {email} to finish signing up")


def links(mailbox: Mailbox, email: str, count: int) -> list[str]:
    """The sign-up links of the first `count` e-mails to `email`."""
    found = mailbox.wait_for(email, count, timeout_s=EXPECT_TIMEOUT_MS / 1000)
    out = []
    for message in found[:count]:
        match = LINK.search(message.get_body(("plain",)).get_content())
        assert match, message.get_body(("plain",)).get_content()
        out.append(match.group(0))
    return out


def test_signing_up_by_email_link(new_tab: Callable[..., Tab], mailbox: Mailbox, web_url: str) -> None:
    tab = new_tab()
    page = tab.page
    sign_up(tab, "Vera Link", "vera@example.com")
    [link] = links(mailbox, "vera@example.com", 1)
    assert link.startswith(web_url + "/verify/")
    page.goto(link)
    expect(page.get_by_label("New board name")).to_be_visible()  # signed in, in the new personal workspace
    expect(page.get_by_role("heading", name="Vera Link's workspace")).to_be_visible()

    # the link works once
    other = new_tab()
    other.page.goto(link)
    expect(other.page.get_by_role("heading", name="This link no longer works")).to_be_visible()
    other.page.get_by_role("link", name="Sign up again").click()
    expect(other.page.get_by_role("heading", name="Create your account")).to_be_visible()


def test_a_second_link_for_an_address_with_an_account_points_to_sign_in(
    new_tab: Callable[..., Tab], mailbox: Mailbox
) -> None:
    tab = new_tab()
    sign_up(tab, "Walt Twice", "walt@example.com")
    sign_up(tab, "Walt Twice", "walt@example.com")
    first, second = links(mailbox, "walt@example.com", 2)
    tab.page.goto(first)
    expect(tab.page.get_by_label("New board name")).to_be_visible()

    later = new_tab()
    later.page.goto(second)
    expect(later.page.get_by_role("heading", name="You already have an account")).to_be_visible()
    later.page.get_by_role("link", name="Sign in").click()
    expect(later.page.get_by_role("heading", name="Sign in")).to_be_visible()
