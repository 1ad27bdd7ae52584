"""A staging area on disk: an import is parsed into a temporary SQLite file before anything is written.

Exports put things in an order that does not suit writing (Trello lists cards before the
lists and labels they refer to), and a large export does not fit in memory: each parsed
object is stored here as it streams by, and the writer reads them back in dependency order
with the source ids resolved by SQL joins, so memory stays bounded however large the file.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from orbitask.core.ids import new_id
from orbitask.transfer.limits import CAPS, PER_FILE
from orbitask.transfer.stream import ImportRejected

BATCH = 1000
_SCHEMA = """
CREATE TABLE item (
  seq INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  board TEXT NOT NULL,
  ext_id TEXT NOT NULL,
  parent TEXT,
  sort,
  data TEXT NOT NULL,
  internal TEXT,
  existed INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX item_kind_ext ON item (kind, ext_id);
CREATE TABLE known (kind TEXT NOT NULL, ext_id TEXT NOT NULL, internal TEXT NOT NULL, PRIMARY KEY (kind, ext_id));
CREATE TABLE alive (internal TEXT PRIMARY KEY);
"""


class Spool:
    """Parsed objects by kind (board, list, label, member, card, checklist, item, comment)."""

    def __init__(self, directory: Path | None = None) -> None:
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        self._dir = Path(tempfile.mkdtemp(prefix="orbitask-import-", dir=directory))
        # parsed in a worker thread, written from the event loop: one user at a time, never concurrently
        self.db = sqlite3.connect(self._dir / "spool.db", isolation_level=None, check_same_thread=False)
        self.db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-16000;" + _SCHEMA)
        self.db.execute("BEGIN")
        self._pending: list[tuple[Any, ...]] = []
        self._counts: dict[tuple[str, str], int] = {}  # staged per (kind, board), for the caps

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def put(self, kind: str, board: str, ext_id: str, data: dict[str, Any], *, parent: str | None = None,
            sort: Any = None) -> None:
        """Stage one object; a repeated (kind, id) keeps the first. Past a cap of limits.CAPS the file is refused."""
        if kind in CAPS:
            scope = (kind, "" if kind in PER_FILE else board)
            count = self._counts[scope] = self._counts.get(scope, 0) + 1
            cap, what = CAPS[kind]
            if count > cap:
                raise ImportRejected("too-many", f"The file has more than {cap:,} {what}; an import takes at most "
                                     f"{cap:,}.")
        self._pending.append((kind, board, ext_id, parent, sort, json.dumps(data, separators=(",", ":"))))
        if len(self._pending) >= BATCH:
            self.flush()

    def flush(self) -> None:
        """Write staged objects."""
        if self._pending:
            self.db.executemany(
                "INSERT OR IGNORE INTO item (kind, board, ext_id, parent, sort, data) VALUES (?, ?, ?, ?, ?, ?)",
                self._pending,
            )
            self._pending.clear()

    def has(self, kind: str, ext_id: str) -> bool:
        """Whether an object is staged."""
        self.flush()
        return self.db.execute("SELECT 1 FROM item WHERE kind = ? AND ext_id = ?", (kind, ext_id)).fetchone() is not None

    def count(self, kind: str | None = None) -> int:
        """How many objects (of a kind) are staged."""
        self.flush()
        if kind is None:
            return self.db.execute("SELECT count(*) FROM item WHERE kind != 'board'").fetchone()[0]
        return self.db.execute("SELECT count(*) FROM item WHERE kind = ?", (kind,)).fetchone()[0]

    def counts(self) -> dict[str, int]:
        """Staged objects per kind."""
        self.flush()
        return dict(self.db.execute("SELECT kind, count(*) FROM item GROUP BY kind").fetchall())

    def rows(self, kind: str, board: str | None = None) -> Iterator[tuple[str, str | None, dict[str, Any]]]:
        """(ext_id, parent, data) of a kind, by parent, then sort key, then file order."""
        self.flush()
        sql = "SELECT ext_id, parent, data FROM item WHERE kind = ?"
        args: tuple[Any, ...] = (kind,)
        if board is not None:
            sql, args = sql + " AND board = ?", (kind, board)
        for ext_id, parent, data in self.db.execute(sql + " ORDER BY parent, sort, seq", args):
            yield ext_id, parent, json.loads(data)

    def boards(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(source id, spool key, fields) of each staged board, in file order."""
        self.flush()
        rows = self.db.execute("SELECT ext_id, board, data FROM item WHERE kind = 'board' ORDER BY seq").fetchall()
        return [(ext_id, board, json.loads(data)) for ext_id, board, data in rows]

    def remember(self, kind: str, pairs: list[tuple[str, uuid.UUID]]) -> None:
        """Record ids a previous import gave to source objects."""
        self.db.executemany("INSERT OR REPLACE INTO known VALUES (?, ?, ?)",
                            [(kind, ext, str(internal)) for ext, internal in pairs])

    def alive(self, ids: list[uuid.UUID]) -> None:
        """Record rows that still exist (mapped rows deleted since are made anew)."""
        self.db.executemany("INSERT OR IGNORE INTO alive VALUES (?)", [(str(i),) for i in ids])

    def assign_ids(self, kind: str, board: str) -> None:
        """Give each object its row id: the one from an earlier import if that row still exists, else a new one."""
        self.flush()
        self.db.execute(
            "UPDATE item SET existed = 1, internal = (SELECT k.internal FROM known k JOIN alive a ON a.internal = "
            "k.internal WHERE k.kind = item.kind AND k.ext_id = item.ext_id) WHERE kind = ? AND board = ? AND "
            "EXISTS (SELECT 1 FROM known k JOIN alive a ON a.internal = k.internal "
            "WHERE k.kind = item.kind AND k.ext_id = item.ext_id)", (kind, board))
        fresh = self.db.execute(
            "SELECT seq FROM item WHERE kind = ? AND board = ? AND internal IS NULL", (kind, board)
        ).fetchall()
        self.db.executemany("UPDATE item SET internal = ? WHERE seq = ?", [(str(new_id()), s) for (s,) in fresh])

    def resolved(
        self, kind: str, parent_kind: str, board: str
    ) -> Iterator[tuple[str, uuid.UUID, bool, uuid.UUID | None, dict[str, Any]]]:
        """(ext_id, row id, existed before, parent's row id or None, data), grouped by parent in order."""
        self.flush()
        rows = self.db.execute(
            "SELECT c.ext_id, c.internal, c.existed, p.internal, c.data FROM item c LEFT JOIN item p "
            "ON p.kind = ? AND p.ext_id = c.parent WHERE c.kind = ? AND c.board = ? ORDER BY c.parent, c.sort, c.seq",
            (parent_kind, kind, board),
        )
        for ext_id, internal, existed, parent, data in rows:
            yield (ext_id, uuid.UUID(internal), bool(existed), uuid.UUID(parent) if parent else None,
                   json.loads(data))

    def ids(self, kind: str, board: str) -> dict[str, uuid.UUID]:
        """Source id -> row id for a (small) kind: lists, labels."""
        self.flush()
        rows = self.db.execute("SELECT ext_id, internal FROM item WHERE kind = ? AND board = ?", (kind, board))
        return {ext: uuid.UUID(internal) for ext, internal in rows}

    def close(self) -> None:
        """Remove the staging file."""
        self.db.close()
        shutil.rmtree(self._dir, ignore_errors=True)
