"""Shutdown ends the app's background tasks, even one that swallowed a cancel."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
from asgi_lifespan import LifespanManager

import orbitask.app as app_module
from tests.conftest import make_settings


async def test_shutdown_cancels_again_a_task_that_swallowed_the_cancel(
    tmp_path: Path, template_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Python 3.11 asyncio.wait_for (redis-py wraps every socket write in it) drops a cancel that lands as its
    inner call completes; the relay and bus listeners then ran on, and shutdown waited out its whole grace."""
    shutil.copy(template_db, tmp_path / "orbitask.db")
    started: list[asyncio.Task[None]] = []

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            pass  # what the wait_for race does to a cancel
        await asyncio.sleep(3600)

    real = app_module.start_realtime

    def start_realtime(*args: Any, **kwargs: Any) -> list[asyncio.Task[None]]:
        started.append(asyncio.create_task(stubborn(), name="stubborn"))
        return [*real(*args, **kwargs), started[0]]

    monkeypatch.setattr(app_module, "start_realtime", start_realtime)
    app = app_module.create_app(make_settings(tmp_path))
    async with LifespanManager(app, shutdown_timeout=app_module.SHUTDOWN_GRACE_S * 3):
        pass
    assert started[0].done()
