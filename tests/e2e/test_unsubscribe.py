"""An e-mail's unsubscribe link, opened in a real browser: the page's one button turns the e-mails off."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import expect

from orbitask.config import SECRET_FILE
from orbitask.notifications.service import unsubscribe_token
from tests.conftest import PASSWORD
from tests.e2e.conftest import Tab
from tests.servers import orbitask_server


def test_the_unsubscribe_button_works_in_a_browser(tmp_path: Path, new_tab: Callable[..., Tab]) -> None:
    with orbitask_server(tmp_path) as url, httpx.Client(base_url=url + "/api/v1", timeout=30) as api:
        r = api.post("/auth/register", json={"email": "una@example.com", "password": PASSWORD, "name": "Una"})
        assert r.status_code == 201, r.text
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
        me = api.get("/me", headers=auth).json()
        token = unsubscribe_token((tmp_path / SECRET_FILE).read_text().strip(), uuid.UUID(me["id"]), "all")
        tab = new_tab()
        tab.page.goto(f"{url}/api/v1/notifications/unsubscribe?token={token}")
        expect(tab.page.get_by_role("heading", name="Unsubscribe")).to_be_visible()
        tab.page.get_by_role("button", name="Unsubscribe").click()
        expect(tab.page.get_by_role("heading", name="Unsubscribed")).to_be_visible()
        prefs = api.get("/notifications/preferences", headers=auth).json()
        assert prefs["email_digest"] == "off" and not any(choice["email"] for choice in prefs["kinds"].values())
