"""Session setup on server databases: UTC, utf8mb4, isolation levels, whatever the URL's spelling."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from orbitask.core.db import Database, make_engine, repeatable_read


@pytest.mark.parametrize("scheme", ["mysql+asyncmy", "mariadb+asyncmy"])
async def test_mysql_family_sessions_are_utc_utf8mb4_and_read_committed_on_the_writer(
    scheme: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("mariadb_database")().replace("mysql+asyncmy", scheme)
    writer, reader = make_engine(url, writer=True), make_engine(url, writer=False)
    try:
        async with writer.connect() as conn:
            row = (await conn.execute(text(
                "SELECT @@session.time_zone, @@character_set_connection, @@session.tx_isolation"
            ))).one()
            assert tuple(row) == ("+00:00", "utf8mb4", "READ-COMMITTED")
        async with reader.connect() as conn:
            assert (await conn.execute(text("SELECT @@session.time_zone"))).scalar_one() == "+00:00"
    finally:
        await writer.dispose()
        await reader.dispose()


async def test_repeatable_read_holds_one_snapshot_even_on_a_read_committed_server(
    request: pytest.FixtureRequest,
) -> None:
    """A snapshot read sees no commit made after it started, whatever the server's default isolation."""
    server = request.getfixturevalue("mariadb_server")
    url = request.getfixturevalue("mariadb_database")()
    server.sql("SET GLOBAL tx_isolation = 'READ-COMMITTED'")
    db = Database(url)
    try:
        async with db.writer.begin() as conn:
            await conn.execute(text("CREATE TABLE IF NOT EXISTS probe (n INT)"))
            await conn.execute(text("DELETE FROM probe"))
            await conn.execute(text("INSERT INTO probe VALUES (1)"))
        async with db.read_session() as session:
            async with repeatable_read(session):
                first = (await session.execute(text("SELECT COUNT(*) FROM probe"))).scalar_one()
                async with db.writer.begin() as conn:
                    await conn.execute(text("INSERT INTO probe VALUES (2)"))
                again = (await session.execute(text("SELECT COUNT(*) FROM probe"))).scalar_one()
            after = (await session.execute(text("SELECT COUNT(*) FROM probe"))).scalar_one()
        assert (first, again, after) == (1, 1, 2)
    finally:
        server.sql("SET GLOBAL tx_isolation = 'REPEATABLE-READ'")
        async with db.writer.begin() as conn:
            await conn.execute(text("DROP TABLE probe"))
        await db.dispose()
