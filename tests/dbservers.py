"""Real MariaDB and PostgreSQL servers from Debian's packages, on 127.0.0.1, in temp dirs.

Each server gets a free port and its own data directory and is stopped by its owner
(a session fixture, the lab, a benchmark). Missing packages fail loudly with the command
that installs them (`make test` installs them itself).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from orbitask.lab.mariadb import MissingServer as LabMissingServer
from orbitask.lab.mariadb import install_datadir, server_args
from tests.servers import free_port

START_TIMEOUT_S = 60.0
USER, PASSWORD = "orbitask", "orbitask-test-pw"
INSTALL_HINT = "install it with `apt-get install -y mariadb-server postgresql` (`make test` does this for you)"


class MissingServer(RuntimeError):
    """A database server binary is not installed."""


def _need(path: str | None, what: str) -> str:
    if not path or not os.path.exists(path):
        raise MissingServer(f"{what} is not installed: {INSTALL_HINT}")
    return path


def _wait(check, what: str, proc: subprocess.Popen | None = None, log: Path | None = None) -> None:  # noqa: ANN001
    deadline = time.monotonic() + START_TIMEOUT_S
    while not check():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {log.read_text()[-3000:] if log else ''}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start within {START_TIMEOUT_S:.0f} s")
        time.sleep(0.1)  # polling a starting server, bounded by the deadline


@dataclass
class MariaDB:
    """One mariadbd: a primary (binlog, GTID) or a replica of another instance."""

    base: Path
    server_id: int = 1
    binlog: bool = True
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def socket(self) -> str:
        return str(self.base / "mysqld.sock")

    def start(self) -> MariaDB:
        """Initialise the data directory (first time) and start the server (the lab's command line)."""
        try:
            args = server_args(self.base, self.port, self.server_id, binlog=self.binlog)
        except LabMissingServer as exc:
            raise MissingServer(str(exc)) from None
        datadir = self.base / "data"
        if not datadir.exists():
            self.base.mkdir(parents=True, exist_ok=True)
            install_datadir(datadir)
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(self._alive, f"mariadbd on port {self.port}", self.proc, self.base / "error.log")
        self.sql(  # not binlogged: a replica's own GTIDs would break strict GTID replication
            "SET SESSION sql_log_bin=0;"
            f"CREATE USER IF NOT EXISTS '{USER}'@'%' IDENTIFIED BY '{PASSWORD}';"
            f"GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'%' WITH GRANT OPTION;"
        )
        return self

    def _alive(self) -> bool:
        done = subprocess.run(["mariadb-admin", "--no-defaults", f"--socket={self.socket}", "-uroot", "ping"],
                              capture_output=True)
        return done.returncode == 0

    def sql(self, statements: str, database: str | None = None) -> str:
        """Run SQL as root through the socket; returns tab-separated output."""
        args = ["mariadb", "--no-defaults", f"--socket={self.socket}", "-uroot", "-N", "-B"]
        if database:
            args.append(database)
        done = subprocess.run(args, input=statements, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"mariadb: {done.stderr.strip()}")
        return done.stdout

    def url(self, database: str) -> str:
        """An async SQLAlchemy URL for `database` on this server."""
        return f"mysql+asyncmy://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def replicate_from(self, primary: MariaDB) -> None:
        """Become a read-only GTID replica of `primary`."""
        self.sql(
            "STOP SLAVE; RESET SLAVE ALL;"
            f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={primary.port}, MASTER_USER='{USER}', "
            f"MASTER_PASSWORD='{PASSWORD}', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1;"
            "SET GLOBAL read_only=ON; START SLAVE;"
        )

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after a bound)."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def pids(self) -> list[int]:
        """The server process, while running."""
        return [self.proc.pid] if self.proc is not None else []

    def kill(self) -> None:
        """SIGKILL, like a crash."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return _need(found[-1] if found else shutil.which(name), f"PostgreSQL's {name}")


@dataclass
class PostgreSQL:
    """One PostgreSQL cluster; started as the `postgres` user when we are root (it refuses root)."""

    base: Path
    port: int = field(default_factory=free_port)
    running: bool = False

    def _as_owner(self, args: list[str], **kw) -> subprocess.CompletedProcess:  # noqa: ANN003
        if os.geteuid() == 0:
            args = ["runuser", "-u", "postgres", "--", *args]
        return subprocess.run(args, capture_output=True, text=True, **kw)

    def start(self) -> PostgreSQL:
        """initdb (first time) and start with settings tuned for tests."""
        datadir = self.base / "data"
        fresh = not datadir.exists()
        if fresh:
            self.base.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(self.base, "postgres", "postgres")
            done = self._as_owner([_pg_bin("initdb"), "-D", str(datadir), "-A", "trust", "-U", "postgres",
                                   "-E", "UTF8", "--no-sync"])
            if done.returncode != 0:
                raise RuntimeError(f"initdb failed: {done.stderr}")
        options = (f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
        done = self._as_owner([_pg_bin("pg_ctl"), "-D", str(datadir), "-l", str(self.base / "server.log"),
                               "-o", options, "-w", "-t", str(int(START_TIMEOUT_S)), "start"])
        if done.returncode != 0:
            log = (self.base / "server.log").read_text()[-3000:] if (self.base / "server.log").exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {done.stderr} {log}")
        self.running = True
        if fresh:  # a restart on the same data directory already has the role
            self.sql(f"CREATE ROLE {USER} LOGIN SUPERUSER PASSWORD '{PASSWORD}'")
        return self

    def sql(self, statements: str, database: str = "postgres") -> str:
        """Run SQL as the superuser through the socket."""
        done = self._as_owner(["psql", "-h", str(self.base), "-p", str(self.port), "-U", "postgres", "-d", database,
                               "-v", "ON_ERROR_STOP=1", "-At", "-c", statements], timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"psql: {done.stderr.strip()}")
        return done.stdout

    def url(self, database: str) -> str:
        """An async SQLAlchemy URL for `database` on this server."""
        return f"postgresql+psycopg://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        """Stop the cluster (fast shutdown)."""
        if self.running:
            self._as_owner([_pg_bin("pg_ctl"), "-D", str(self.base / "data"), "-m", "fast", "-w", "stop"])
            self.running = False

    def pids(self) -> list[int]:
        """The postmaster and its children (backends, background workers), while running."""
        lock = self.base / "data" / "postmaster.pid"
        if not self.running or not lock.exists():
            return []
        postmaster = int(lock.read_text().split()[0])
        return [postmaster, *_children(postmaster)]

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend, like a crash; `start()` then runs crash recovery."""
        pids = self.pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)  # SIGKILL is asynchronous; bounded by the deadline
        if any(_alive(pid) for pid in pids):
            raise RuntimeError(f"PostgreSQL processes {pids} survived SIGKILL")
        # pg_ctl detached the postmaster, so an init that does not reap (common in containers) leaves a
        # zombie whose PID still "exists" and makes the next start refuse the stale lock files.
        for lock in (self.base / "data" / "postmaster.pid", self.base / f".s.PGSQL.{self.port}.lock"):
            lock.unlink(missing_ok=True)
        self.running = False


def _children(parent: int) -> list[int]:
    found = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(int(Path(stat).parent.name))
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie is dead)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@contextlib.contextmanager
def replicated_pair(prefix: str) -> Iterator[tuple[MariaDB, MariaDB]]:
    """A GTID primary and a read-only replica of it, in a temp dir; stopped and removed afterwards.

    The replica has no binlog of its own: its bootstrap statements (CREATE USER) must not enter
    the GTID stream it receives (gtid_strict_mode would refuse the mix).
    """
    import pytest  # only test code calls this

    base = Path(tempfile.mkdtemp(prefix=prefix))
    primary = MariaDB(base / "primary", server_id=1, binlog=True)
    replica = MariaDB(base / "replica", server_id=2, binlog=False)
    started: list[MariaDB] = []
    try:
        try:
            started.append(primary.start())
            started.append(replica.start())
        except MissingServer as exc:
            pytest.fail(f"these tests need a real MariaDB: {exc}", pytrace=False)
        except subprocess.CalledProcessError as exc:
            pytest.fail(f"{exc}\nstdout: {exc.stdout!r}\nstderr: {exc.stderr!r}", pytrace=False)
        replica.replicate_from(primary)
        yield primary, replica
    finally:
        for server in reversed(started):
            server.stop()
        shutil.rmtree(base, ignore_errors=True)
