"""Shared fixtures: a migrated SQLite template, the app, an HTTP client and factories."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from asgi_lifespan import LifespanManager

from orbitask.app import create_app
from orbitask.config import Settings
from orbitask.core.migrate import upgrade
from tests.dbservers import USER as DB_USER
from tests.dbservers import MariaDB, PostgreSQL
from tests.mailserver import Mailbox, smtp_server
from tests.s3server import MotoServer

TEST_SECRET = "test-secret-" + "x" * 40
PROBLEM_BASE = "https://orbitask.dev/problems/"
PASSWORD = "correct horse battery"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
TRELLO_FIXTURE = FIXTURES / "trello_board.json"


def assert_problem(r: Any, status: int, type_: str | None = None) -> dict[str, Any]:
    """A problem+json response with the given status (and stable type) and a human detail; returns its body."""
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text}"
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers["content-type"]
    body = r.json()
    assert body["status"] == status
    assert body["type"].startswith(PROBLEM_BASE)
    if type_ is not None:
        assert body["type"] == PROBLEM_BASE + type_, body
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for tests: cheap password hashing, a fixed secret, plain logs."""
    values: dict[str, Any] = {
        "env": "test", "data_dir": data_dir, "secret_key": TEST_SECRET,
        "argon2_time_cost": 1, "argon2_memory_cost": 64, "log_json": False, "log_level": "WARNING",
        "worker_in_serve": "off",  # tests run background jobs explicitly (tests/notifications)
        # two test processes, their database servers and a browser share two cores: a login to MariaDB
        # once took over 5 s (the default) and failed a test with 503; faults that need the bound set their own
        "database_connect_timeout_seconds": 20,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(autouse=True)
def _logging_put_back() -> Iterator[None]:
    """Every app reconfigures structlog (level, and sys.stderr as it is then). A test capturing its
    output (capfd) leaves a stream that is closed when it ends: the next test on this worker must not
    log into it (a relay's debug line raised "I/O operation on closed file")."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture(autouse=True)
def _environment_put_back() -> Iterator[None]:
    """Code a test runs in-process may write ORBITASK_ settings into os.environ (`serve` passes settings to its workers that way, the
    failover Lambda loads its secrets into it): put it back, or every server this worker starts later inherits
    them (a leaked ORBITASK_PUBLIC_URL pointed later servers' links at port 8000)."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("ORBITASK_")}  # (session fixtures set others)
    yield
    for name in [k for k in os.environ if k.startswith("ORBITASK_") and k not in saved]:
        del os.environ[name]
    os.environ.update(saved)


@pytest.fixture
def mail() -> Iterator[Mailbox]:
    """A real SMTP server on 127.0.0.1; the mailbox of what it received (its port as `.port`)."""
    with smtp_server() as (port, box):
        box.port = port  # type: ignore[attr-defined]
        yield box


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server on 127.0.0.1 shared by one module's tests (its port as `.port`)."""
    with smtp_server() as (port, box):
        box.port = port  # type: ignore[attr-defined]
        yield box


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "orbitask.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


BACKENDS = [b.strip() for b in os.environ.get("ORBITASK_TEST_BACKENDS", "sqlite,mariadb,postgresql").split(",")]
TEST_DATABASE = "orbitask_test"


def _tables() -> list[str]:
    from orbitask.models import metadata

    return [t.name for t in metadata.sorted_tables]


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDB]:
    """A MariaDB server for this test process (no binlog: the API suite needs no replication)."""
    base = Path(tempfile.mkdtemp(prefix="orbitask-mariadb-"))
    server = MariaDB(base, binlog=False).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[PostgreSQL]:
    """A PostgreSQL cluster for this test process."""
    base = Path(tempfile.mkdtemp(prefix="orbitask-pg-"))
    server = PostgreSQL(base).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """An S3-compatible server (moto in server mode) for this test process; each test makes its own bucket."""
    base = Path(tempfile.mkdtemp(prefix="orbitask-moto-"))
    server = MotoServer(base).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def mariadb_database(mariadb_server: MariaDB) -> Callable[[], str]:
    """A migrated database; calling the result empties every table and returns the URL."""
    mariadb_server.sql(f"CREATE DATABASE {TEST_DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    url = mariadb_server.url(TEST_DATABASE)
    upgrade(url)
    wipe = "SET FOREIGN_KEY_CHECKS=0;" + "".join(f"DELETE FROM `{t}`;" for t in _tables())

    def fresh() -> str:
        mariadb_server.sql(wipe, TEST_DATABASE)
        return url

    return fresh


@pytest.fixture(scope="session")
def postgresql_database(postgresql_server: PostgreSQL) -> Callable[[], str]:
    """A migrated database; calling the result empties every table and returns the URL."""
    postgresql_server.sql(f"CREATE DATABASE {TEST_DATABASE} OWNER {DB_USER}")
    url = postgresql_server.url(TEST_DATABASE)
    upgrade(url)
    wipe = "TRUNCATE " + ", ".join(f'"{t}"' for t in _tables()) + " RESTART IDENTITY CASCADE"

    def fresh() -> str:
        postgresql_server.sql(wipe, TEST_DATABASE)
        return url

    return fresh


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend a test runs on: the API suite runs on each."""
    return request.param


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    if backend == "sqlite":
        shutil.copy(request.getfixturevalue("template_db"), tmp_path / "orbitask.db")
        return make_settings(tmp_path)
    fresh = request.getfixturevalue(f"{backend}_database")
    return make_settings(tmp_path, database_url=fresh())


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@dataclass
class User:
    id: uuid.UUID
    email: str
    name: str
    access_token: str
    refresh_token: str
    workspace_id: uuid.UUID
    headers: dict[str, str] = field(default_factory=dict)
    token: str | None = None  # newest X-Orbitask-Token received, sent back like a real client


class Api:
    """Factories that act through the public API, like a user would."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self._n = 0

    async def user(self, name: str | None = None) -> User:
        self._n += 1
        name = name or f"user{self._n}"
        email = f"{name.lower()}-{uuid.uuid4().hex[:6]}@example.com"
        r = await self.client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD, "name": name})
        assert r.status_code == 201, r.text
        body = r.json()
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        ws = await self.client.get(
            "/api/v1/workspaces", headers={**headers, "X-Orbitask-Token": r.headers["X-Orbitask-Token"]}
        )
        return User(uuid.UUID(body["user"]["id"]), email, name, body["access_token"], body["refresh_token"],
                    uuid.UUID(ws.json()["items"][0]["id"]), headers)

    async def call(self, who: User | None, method: str, path: str, expect: int | None = None, **kw: Any) -> Any:
        headers = dict(who.headers) if who else {}
        if who is not None and who.token:
            headers["X-Orbitask-Token"] = who.token
        headers.update(kw.pop("headers", {}))
        r = await self.client.request(method, "/api/v1" + path, headers=headers, **kw)
        if who is not None and "X-Orbitask-Token" in r.headers:
            who.token = r.headers["X-Orbitask-Token"]
        if expect is not None:
            assert r.status_code == expect, f"{method} {path}: {r.status_code} {r.text}"
        return r

    async def ok(self, who: User | None, method: str, path: str, **kw: Any) -> Any:
        r = await self.call(who, method, path, **kw)
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    async def board(self, owner: User, **fields: Any) -> dict[str, Any]:
        return await self.ok(owner, "POST", f"/workspaces/{owner.workspace_id}/boards",
                             json={"name": "Board", **fields})

    async def list(self, who: User, board_id: str, name: str = "List", **kw: Any) -> dict[str, Any]:
        return await self.ok(who, "POST", f"/boards/{board_id}/lists", json={"name": name, **kw})

    async def card(self, who: User, list_id: str, title: str = "Card", **kw: Any) -> dict[str, Any]:
        return await self.ok(who, "POST", f"/lists/{list_id}/cards", json={"title": title, **kw})

    async def join(self, owner: User, member: User, role: str = "member", workspace_id: Any = None) -> None:
        ws = workspace_id or owner.workspace_id
        inv = await self.ok(owner, "POST", f"/workspaces/{ws}/invitations", json={"role": role})
        await self.ok(member, "POST", f"/invitations/{inv['token']}/accept")

    async def events(self, who: User, board_id: str, after: int = 0) -> list[dict[str, Any]]:
        return (await self.ok(who, "GET", f"/boards/{board_id}/events?after_version={after}"))["items"]


@pytest.fixture
def api(client: httpx.AsyncClient) -> Api:
    return Api(client)
