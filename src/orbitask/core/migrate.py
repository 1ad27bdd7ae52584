"""Run Alembic programmatically (no alembic.ini needed)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib.resources import files

from alembic import command
from alembic.config import Config


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the packaged migrations and `url`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(files("orbitask") / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(slug)s")
    return cfg


def _outside_event_loop(fn: Callable[[], None]) -> None:
    """Alembic's env runs its own event loop: from async code, give it a thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        fn()
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(fn).result()


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` to `revision`."""
    _outside_event_loop(lambda: command.upgrade(alembic_config(url), revision))


def current(url: str) -> None:
    """Print the database's current revision."""
    _outside_event_loop(lambda: command.current(alembic_config(url), verbose=False))


def check(url: str) -> None:
    """Fail if the models have changes no migration covers."""
    _outside_event_loop(lambda: command.check(alembic_config(url)))
