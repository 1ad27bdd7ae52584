"""Screenshots of the web app's main screens for the README, from the demo data.

    make web && .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

Seeds `orbitask demo` into a temporary data directory, starts a real `orbitask serve` on
127.0.0.1 and drives Debian's Chromium (headless, Playwright) as the two demo users.
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.browser import launch, require_bundle  # noqa: E402
from tests.servers import orbitask_server  # noqa: E402

PASSWORD = "orbitask-demo"
ADA, GRACE = "ada@demo.orbitask.dev", "grace@demo.orbitask.dev"
FAST_HASHING = {"ORBITASK_ARGON2_TIME_COST": "1", "ORBITASK_ARGON2_MEMORY_COST": "64"}


def signed_in(browser, url: str, email: str, width: int = 1366, height: int = 820):  # noqa: ANN001, ANN201
    """A browser context with a cookie session for `email`."""
    context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1)
    r = context.request.post(url + "/api/v1/auth/login", data={"email": email, "password": PASSWORD, "session": "cookie"})
    assert r.ok, r.text()
    return context


def gradient_png(width: int, height: int) -> bytes:
    """A PNG with a soft diagonal gradient: a stand-in for a design mock-up."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = bytearray()
    for y in range(height):
        rows.append(0)
        for x in range(width):
            t = (x / width + y / height) / 2
            rows += bytes((int(37 + 180 * t), int(99 + 60 * (1 - t)), int(235 - 90 * t)))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(rows))) + chunk(b"IEND", b"")


def attach_cover(context, url: str, board_id: str, title: str) -> None:  # noqa: ANN001 - Playwright type
    """Attach an image to the card with this title and make it the card's cover, through the API."""
    csrf = next(c["value"] for c in context.cookies() if c["name"] == "orbitask_csrf")
    api = url + "/api/v1"
    cards = context.request.get(f"{api}/boards/{board_id}/cards", params={"q": title}).json()["items"]
    card_id = cards[0]["id"]
    r = context.request.post(f"{api}/cards/{card_id}/attachments", headers={"X-CSRF-Token": csrf},
                             multipart={"file": {"name": "press-visual.png", "mimeType": "image/png",
                                                 "buffer": gradient_png(640, 300)}})
    assert r.ok, r.text()
    r = context.request.patch(f"{api}/cards/{card_id}", headers={"X-CSRF-Token": csrf},
                              data={"cover_attachment_id": r.json()["id"]})
    assert r.ok, r.text()


def main() -> None:
    """Seed, serve, shoot."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    require_bundle()
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import expect, sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "ORBITASK_DATA_DIR": tmp, "ORBITASK_LOG_LEVEL": "WARNING", **FAST_HASHING}
        subprocess.run([sys.executable, "-m", "orbitask.cli", "demo", "--password", PASSWORD], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        with orbitask_server(Path(tmp)) as url, sync_playwright() as p:
            browser = launch(p)
            shot = lambda page, name: page.screenshot(path=str(args.out / f"{name}.png"))  # noqa: E731

            guest = browser.new_context(viewport={"width": 1366, "height": 820})
            page = guest.new_page()
            page.goto(url + "/signin")
            expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
            shot(page, "sign-in")

            ada_context = signed_in(browser, url, ADA)
            ada = ada_context.new_page()
            ada.goto(url + "/")
            expect(ada.get_by_role("link", name="Product launch")).to_be_visible()
            shot(ada, "boards")

            ada.get_by_role("link", name="Product launch").click()
            expect(ada.locator("[data-testid=card]").first).to_be_visible()
            board_url = ada.url
            attach_cover(ada_context, url, board_url.rstrip("/").split("/b/")[1], "Write the press release")
            expect(ada.locator("[data-testid=card] img.card-cover")).to_be_visible()
            grace = signed_in(browser, url, GRACE).new_page()  # a second person on the board: presence
            grace.goto(board_url)
            expect(ada.locator(".presence .avatar")).to_have_count(1)
            expect(ada.get_by_test_id("live-status")).to_contain_text("Live")
            shot(ada, "board")

            ada.locator("[data-testid=card]", has_text="Write the press release").click()
            dialog = ada.get_by_role("dialog")
            expect(dialog.get_by_test_id("comment").first).to_be_visible()
            expect(dialog.locator(".activity li").first).to_be_visible()
            expect(dialog.get_by_test_id("attachment").locator("img")).to_be_visible()
            shot(ada, "card")
            ada.keyboard.press("Escape")

            ada.get_by_label("Filter by due date").select_option("overdue")
            expect(ada.locator("[data-testid=card]").first).to_be_visible()
            shot(ada, "board-filtered")

            ada.goto(url + "/my-tasks")
            expect(ada.get_by_role("heading", name="My tasks")).to_be_visible()
            expect(ada.locator(".task-list li").first).to_be_visible()
            shot(ada, "my-tasks")

            ada.get_by_role("link", name="Orbitask").click()
            ada.get_by_role("link", name="Members").click()
            ada.get_by_role("button", name="Create invitation link").click()
            expect(ada.get_by_label("Invitation link")).to_be_visible()
            shot(ada, "members")

            phone = signed_in(browser, url, ADA, width=375, height=740).new_page()
            phone.goto(board_url)
            expect(phone.locator("[data-testid=card]").first).to_be_visible()
            shot(phone, "board-mobile")
            phone.locator("[data-testid=card]").first.click()
            expect(phone.get_by_role("dialog")).to_be_visible()
            shot(phone, "card-mobile")
            browser.close()
    print(f"screenshots written to {args.out}")


if __name__ == "__main__":
    main()
