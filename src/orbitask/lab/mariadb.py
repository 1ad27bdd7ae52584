"""One mariadbd for the lab (and the tests): own datadir, socket and port on 127.0.0.1, GTID, ROW binlog.

Every server starts `--read-only`; the failover controller turns read_only off on the current
primary only, so a crashed old writer that comes back is fenced until it rejoins as a replica.
The application connects as APP_USER, which holds privileges on the application database and
nothing global (no SUPER, no READ_ONLY ADMIN), so read_only really stops its writes. Replicas
connect as REPL_USER. The controller itself talks to each server as root over its socket.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from orbitask.lab import journal
from orbitask.lab.journal import shown
from orbitask.lab.procs import alive, free_port, kill, spawn, stop, wait_until

START_TIMEOUT_S = 60.0
APP_USER, APP_PASSWORD = "orbitask", "orbitask-lab-pw"
REPL_USER, REPL_PASSWORD = "repl", "orbitask-repl-pw"
DATABASE = "orbitask"
SEMI_SYNC_TIMEOUT_MS = 5000
INSTALL_HINT = "install it with `apt-get install -y mariadb-server` (`make test` does this for you)"
TMPDIR = "tmp"  # each server's own: a starting mariadbd empties its tmpdir of temporary tables


class MissingServer(RuntimeError):
    """A database server binary is not installed."""


class SqlError(RuntimeError):
    """A statement failed, or the server could not be reached."""


def binary(name: str) -> str:
    """Path of a MariaDB program, or a clear error saying how to install it."""
    path = shutil.which(name) or f"/usr/sbin/{name}"
    if not Path(path).exists():
        raise MissingServer(f"{name} is not installed: {INSTALL_HINT}")
    return path


def install_datadir(datadir: Path) -> None:
    """mariadb-install-db into `datadir`, with the server's own temporary directory beside it.

    Every mariadbd, the bootstrap one included, deletes each `#sql*` file in its tmpdir when it
    starts. With the default tmpdir (/tmp) shared, one server starting removed the internal
    temporary tables another server was using: bootstraps running side by side (the lab's three)
    then failed ("Can't find file: '/tmp/#sql-temptable-....MAI'") or crashed in
    ha_maria::drop_table, 6 of 45 runs three at a time, none with a tmpdir each.
    """
    install = binary("mariadb-install-db")
    tmpdir = datadir.parent / TMPDIR
    tmpdir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [install, "--no-defaults", f"--datadir={datadir}", f"--tmpdir={tmpdir}", "--user=root", "--skip-test-db",
         "--auth-root-authentication-method=normal"],
        capture_output=True, text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"mariadb-install-db failed in {datadir}: {done.stdout[-1000:]} {done.stderr[-3000:]}")


def server_args(base: Path, port: int, server_id: int, *, binlog: bool = True, read_only: bool = False,
                semi_sync: bool = False) -> list[str]:
    """The mariadbd command line for a server living in `base`."""
    args = [
        binary("mariadbd"), "--no-defaults", f"--datadir={base / 'data'}", f"--socket={base / 'mysqld.sock'}",
        f"--port={port}", "--bind-address=127.0.0.1", "--user=root", f"--server-id={server_id}",
        "--skip-name-resolve", f"--pid-file={base / 'mysqld.pid'}", "--innodb-buffer-pool-size=64M",
        "--innodb-flush-log-at-trx-commit=2", "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_unicode_ci", "--max-connections=500", "--gtid-strict-mode=ON",
        f"--log-error={base / 'error.log'}", "--skip-slave-start", f"--tmpdir={base / TMPDIR}",
    ]
    if binlog:
        args += [f"--log-bin={base / 'binlog'}", "--binlog-format=ROW", "--log-slave-updates=ON", "--sync-binlog=0",
                 f"--relay-log={base / 'relay'}"]
    if read_only:
        args.append("--read-only")
    if semi_sync:  # the primary's side is switched on by the controller (rpl_semi_sync_master_enabled)
        args += ["--rpl-semi-sync-slave-enabled=ON", "--rpl-semi-sync-master-wait-point=AFTER_SYNC",
                 f"--rpl-semi-sync-master-timeout={SEMI_SYNC_TIMEOUT_MS}"]
    return args


def users_sql(database: str = DATABASE) -> str:
    """The application and replication users (not binlogged: each server creates its own)."""
    return (
        "SET SESSION sql_log_bin=0;"
        f"CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
        f"CREATE USER IF NOT EXISTS '{APP_USER}'@'%' IDENTIFIED BY '{APP_PASSWORD}';"
        f"GRANT ALL PRIVILEGES ON `{database}`.* TO '{APP_USER}'@'%';"
        f"CREATE USER IF NOT EXISTS '{REPL_USER}'@'%' IDENTIFIED BY '{REPL_PASSWORD}';"
        f"GRANT REPLICATION SLAVE ON *.* TO '{REPL_USER}'@'%';"
    )


@dataclass
class MariaDBServer:
    """One lab mariadbd; the PID is kept so another process can stop or kill it."""

    base: Path
    server_id: int
    port: int = field(default_factory=free_port)
    semi_sync: bool = False
    pid: int | None = None
    region: str = ""
    journal: Path | None = None  # where every statement is noted (the lab's journal)

    @property
    def socket(self) -> str:
        return str(self.base / "mysqld.sock")

    @property
    def log(self) -> Path:
        return self.base / "error.log"

    def start(self) -> MariaDBServer:
        """Initialise the data directory (first time) and start the server, read-only."""
        datadir = self.base / "data"
        fresh = not datadir.exists()
        if fresh:
            self.base.mkdir(parents=True, exist_ok=True)
            install_datadir(datadir)
        (self.base / TMPDIR).mkdir(parents=True, exist_ok=True)
        args = server_args(self.base, self.port, self.server_id, read_only=True, semi_sync=self.semi_sync)
        self.pid = spawn(args, self.base / "mariadbd.out")
        wait_until(self.reachable, f"mariadbd on port {self.port}", START_TIMEOUT_S, self.pid, self.log)
        if fresh:
            self.sql(users_sql())
        return self

    def running(self) -> bool:
        """Whether the process is alive (it may still be starting)."""
        return alive(self.pid)

    def reachable(self) -> bool:
        """Whether it answers a query."""
        try:
            self.sql("SELECT 1", timeout=3)
        except SqlError:
            return False
        return True

    def sql(self, statements: str, database: str | None = None, timeout: float = 30, names: bool = False) -> str:
        """Run SQL as root through the socket; returns tab-separated output (with column names if `names`).

        Each call goes to the journal (server, outcome, seconds, statement). A timeout names the
        statement and what the server was running at that moment (each statement's state says
        what it waited for); then the client is killed.
        """
        args = ["mariadb", "--no-defaults", f"--socket={self.socket}", "-uroot", "-B", "--connect-timeout=2"]
        if not names:
            args.append("-N")
        if database:
            args.append(database)
        started = time.monotonic()
        client = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        try:
            out, err = client.communicate(statements, timeout=timeout)
        except subprocess.TimeoutExpired:
            running = self.running_statements()
            client.kill()
            client.communicate()
            self._note(started, "TIMEOUT", statements, f"the server was running: {running}")
            raise SqlError(f"{self.name}: no answer within {timeout:.0f} s to: {shown(statements)}; "
                           f"the server was running: {running}") from None
        if client.returncode != 0:
            self._note(started, "ERROR", statements, err.strip())
            raise SqlError(f"{self.name}: {err.strip()} (in: {shown(statements)})")
        self._note(started, "ok", statements)
        return out

    def running_statements(self) -> str:
        """What the server runs now, one `[id user seconds state] statement` per client (for error messages)."""
        query = ("SELECT CONCAT('[', ID, ' ', USER, ' ', TIME, 's ', IFNULL(STATE, ''), '] ', LEFT(IFNULL(INFO, ''), 150))"
                 " FROM information_schema.PROCESSLIST WHERE COMMAND NOT IN ('Sleep', 'Daemon', 'Binlog Dump')"
                 " AND ID <> CONNECTION_ID() ORDER BY TIME DESC LIMIT 20")
        try:
            done = subprocess.run(["mariadb", "--no-defaults", f"--socket={self.socket}", "-uroot", "-B", "-N",
                                   "--connect-timeout=2"], input=query, capture_output=True, text=True, timeout=5)
        except subprocess.TimeoutExpired:
            return "(no answer to the process list either)"
        return "; ".join(line for line in done.stdout.splitlines() if line) or done.stderr.strip() or "nothing"

    @property
    def name(self) -> str:
        """How messages and the journal name this server."""
        return f"mariadb {self.region or 'server'} (port {self.port})"

    def _note(self, started: float, outcome: str, statements: str, detail: str = "") -> None:
        elapsed, statement = time.monotonic() - started, shown(statements)
        detail = f" -> {detail[:1500]}" if detail else ""
        journal.write(self.journal, f"sql {self.name} {outcome} {elapsed:.3f}s: {statement}{detail}",
                      stream=f"sql {self.name}", key=f"{outcome} {statement}{detail}")  # a poll's repeats: counted

    def url(self, port: int | None = None, database: str = DATABASE) -> str:
        """The application's async SQLAlchemy URL (through `port`, e.g. a WAN link, when given)."""
        return f"mysql+asyncmy://{APP_USER}:{APP_PASSWORD}@127.0.0.1:{port or self.port}/{database}"

    def rebuild_from(self, primary: MariaDBServer) -> str:
        """Archive this server's binlogs, then reload the database from a consistent dump of `primary`.

        Used when a returning old writer holds transactions nobody else received: they are kept
        for review in the archive, and the server starts again from the new primary's state.
        """
        archive = self.base / f"errant-{time.strftime('%Y%m%dT%H%M%S')}"
        archive.mkdir(parents=True, exist_ok=True)
        for path in self.base.glob("binlog.*"):
            shutil.copy2(path, archive / path.name)
        dump = subprocess.run(
            ["mariadb-dump", "--no-defaults", f"--socket={primary.socket}", "-uroot", "--single-transaction",
             "--gtid", "--master-data=1", "--add-drop-database", "--databases", DATABASE],
            capture_output=True, text=True, timeout=600,
        )
        if dump.returncode != 0:
            raise SqlError(f"mariadb-dump from port {primary.port}: {dump.stderr.strip()}")
        self.sql("STOP SLAVE; RESET SLAVE ALL; RESET MASTER;")
        self.sql("SET SESSION sql_log_bin=0;\n" + dump.stdout, timeout=600)
        return str(archive)

    def kill(self) -> None:
        """SIGKILL, like a crash."""
        kill(self.pid)
        self.pid = None

    def stop(self) -> None:
        """Shut down cleanly (SIGTERM, SIGKILL after a bound)."""
        stop(self.pid, grace=30)
        self.pid = None
