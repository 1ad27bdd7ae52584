"""The AWS migration task's entry point (deploy/aws/scripts/provision_db_user.py) against a real MariaDB.

It runs as the master user, makes the app's user (TLS only, rows of one database only, the secret's password),
sets the password again on every run, then execs `orbitask db upgrade`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dbservers import MariaDB
from tests.deploy.cdk import DEPLOY_AWS

SCRIPT = DEPLOY_AWS / "scripts" / "provision_db_user.py"
DATABASE, APP_USER = "provision_test", "orbitask_app"


@pytest.fixture
def database(mariadb_server: MariaDB) -> Iterator[MariaDB]:
    mariadb_server.sql(f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    try:
        yield mariadb_server
    finally:
        mariadb_server.sql(f"DROP DATABASE IF EXISTS {DATABASE}; DROP USER IF EXISTS '{APP_USER}'@'%'")


def provision(server: MariaDB, password: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run the script as the migration task does: `python -c <script> db upgrade`, the master user's DSN."""
    env = {**os.environ, "ORBITASK_DATABASE_URL": server.url(DATABASE), "ORBITASK_APP_DATABASE_PASSWORD": password,
           "ORBITASK_APP_DATABASE_USER": APP_USER, "ORBITASK_DATA_DIR": str(tmp_path),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([sys.executable, "-c", SCRIPT.read_text(), "db", "upgrade"], env=env, capture_output=True,
                          text=True, timeout=300, check=True)


def stored_hash(server: MariaDB) -> str:
    return server.sql(f"SELECT JSON_VALUE(Priv, '$.authentication_string') FROM mysql.global_priv "
                      f"WHERE User = '{APP_USER}' AND Host = '%'").strip()


def test_the_migration_task_makes_the_app_user_then_migrates(database: MariaDB, tmp_path: Path) -> None:
    done = provision(database, "first-Secret-1", tmp_path)
    assert f"database user {APP_USER} is ready for {DATABASE}" in done.stdout
    grants = database.sql(f"SHOW GRANTS FOR '{APP_USER}'@'%'")
    assert f"GRANT SELECT, INSERT, UPDATE, DELETE ON `{DATABASE}`.* TO `{APP_USER}`@`%`" in grants
    assert "REQUIRE SSL" in grants  # a connection without TLS is refused even with the right password
    assert "ALL PRIVILEGES" not in grants and "GRANT OPTION" not in grants and " ON *.*" not in grants.replace(
        "GRANT USAGE ON *.*", "")
    assert stored_hash(database) == database.sql("SELECT PASSWORD('first-Secret-1')").strip()
    assert database.sql("SELECT COUNT(*) FROM alembic_version", DATABASE).strip() == "1"  # then `orbitask db upgrade`
    # a rotated secret takes effect at the next migration; the user is not made twice
    provision(database, "second-Secret-2", tmp_path)
    assert stored_hash(database) == database.sql("SELECT PASSWORD('second-Secret-2')").strip()
