"""Migrations build the same schema the models declare, on every backend."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from orbitask.core.migrate import check


@pytest.fixture(params=["sqlite", "mariadb", "postgresql"])
def migrated_url(request: pytest.FixtureRequest, template_db: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{template_db}"
    fresh: Callable[[], str] = request.getfixturevalue(f"{request.param}_database")
    return fresh()


def test_models_and_migrations_agree(migrated_url: str) -> None:
    check(migrated_url)  # raises when autogenerate would emit any operation


def test_emoji_and_case_round_trip_and_positions_sort_bytewise(migrated_url: str) -> None:
    """utf8mb4 on MySQL, byte-wise collation for fractional positions on every backend."""

    async def probe() -> tuple[str, list[str]]:
        engine = create_async_engine(migrated_url)
        try:
            async with engine.connect() as conn:
                emoji = (await conn.execute(text("SELECT :v"), {"v": "Ship it 🚀✨"})).scalar_one()
                if engine.dialect.name == "mysql":
                    # the position column's own collation decides the order
                    rows = await conn.execute(text(
                        "SELECT p FROM (SELECT CAST('a0' AS CHAR CHARACTER SET ascii) COLLATE ascii_bin AS p "
                        "UNION ALL SELECT CAST('Zz' AS CHAR CHARACTER SET ascii) COLLATE ascii_bin) t ORDER BY p"))
                elif engine.dialect.name == "postgresql":
                    rows = await conn.execute(text(
                        "SELECT p FROM (VALUES ('a0' COLLATE \"C\"), ('Zz' COLLATE \"C\")) t(p) ORDER BY p"))
                else:
                    rows = await conn.execute(text("SELECT p FROM (SELECT 'a0' AS p UNION ALL SELECT 'Zz') ORDER BY p"))
                return emoji, [r[0] for r in rows]
        finally:
            await engine.dispose()

    emoji, order = asyncio.run(probe())
    assert emoji == "Ship it 🚀✨"
    assert order == ["Zz", "a0"]
