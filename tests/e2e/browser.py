"""Debian's Chromium driven by Playwright: headless, no sandbox, no background traffic."""

from __future__ import annotations

import shutil
from pathlib import Path

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
WEB_DIST = Path(__file__).resolve().parents[2] / "web" / "dist"


def chromium_path() -> str:
    """The system Chromium (never a downloaded one), or a clear failure saying how to install it."""
    path = shutil.which("chromium")
    if path is None:
        raise RuntimeError("Chromium is not installed: run `apt-get install chromium` (or `make browser`).")
    return path


def require_bundle() -> None:
    """The built web app must exist: the server serves it."""
    if not (WEB_DIST / "index.html").is_file():
        raise RuntimeError("The web app is not built: run `make web` (npm ci && npm run build in web/).")


def launch(playwright):  # noqa: ANN001, ANN201 - Playwright types
    """A headless Chromium from Debian's package."""
    return playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
