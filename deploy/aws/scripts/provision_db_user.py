"""The migration task's entry point: make or update the app's database user, then run `orbitask ARGS`.

Runs inside the Orbitask image as `python -c <this file> db upgrade` (deploy/aws/orbitask_cdk/services.py),
connected as the master user (ORBITASK_DATABASE_URL and ORBITASK_DATABASE_PASSWORD). The app's user gets the
password in ORBITASK_APP_DATABASE_PASSWORD (the <name>/db-app secret), TLS only, and rows only: no DDL, no
grants. Running it again sets the password again, so rotating the secret takes effect at the next migration.
"""

import asyncio
import os
import sys

from sqlalchemy import text

from orbitask.config import Settings
from orbitask.core.db import make_engine

APP_USER = os.environ.get("ORBITASK_APP_DATABASE_USER", "orbitask_app")
# the account and password are bound (the driver quotes them); only the database's name is spliced in, checked
STATEMENTS = (
    "CREATE USER IF NOT EXISTS :user@:host IDENTIFIED BY :password REQUIRE SSL",
    "ALTER USER :user@:host IDENTIFIED BY :password REQUIRE SSL",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON `{database}`.* TO :user@:host",
)


async def provision() -> None:
    """Create the app's user if missing, set its password and TLS requirement, grant it the database's rows."""
    engine = make_engine(Settings().writer_url, writer=True)
    database = engine.url.database or ""
    if not database.replace("_", "").isalnum():
        raise SystemExit(f"the database name in ORBITASK_DATABASE_URL: letters, digits and _ only, not {database!r}")
    params = {"user": APP_USER, "host": "%", "password": os.environ["ORBITASK_APP_DATABASE_PASSWORD"]}
    try:
        async with engine.begin() as conn:
            for statement in STATEMENTS:
                await conn.execute(text(statement.format(database=database)), params)
    finally:
        await engine.dispose()
    print(f"database user {APP_USER} is ready for {database}", flush=True)


if __name__ == "__main__":
    asyncio.run(provision())
    os.execvp("orbitask", ["orbitask", *sys.argv[1:]])
