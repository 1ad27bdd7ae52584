"""Import commands: a file on disk -> staging spool (in a worker thread) -> one transaction."""

from __future__ import annotations

import functools
import uuid
from pathlib import Path
from typing import IO, Literal

from anyio import to_thread

from orbitask.auth.policy import Actor
from orbitask.core.uow import UnitOfWork
from orbitask.transfer import native, trello
from orbitask.transfer.importer import ImportedBoard, import_spool
from orbitask.transfer.spool import Spool
from orbitask.transfer.stream import CountingReader, Progress

Format = Literal["trello", "orbitask"]
READERS = {"trello": trello.read_trello, "orbitask": native.read_native}
SOURCES = {"trello": trello.SOURCE, "orbitask": native.SOURCE}


def parse(fmt: Format, path: Path, spool: Spool, progress: Progress | None = None) -> None:
    """Stream the file at `path` into `spool` (blocking: run it in a thread from async code)."""
    with path.open("rb") as raw:
        reader: IO[bytes] = CountingReader(raw, path.stat().st_size, progress)  # type: ignore[assignment]
        READERS[fmt](reader, spool)


async def import_file(
    uow: UnitOfWork, actor: Actor, workspace_id: uuid.UUID, fmt: Format, path: Path, *,
    progress: Progress | None = None, spool_dir: Path | None = None,
) -> list[ImportedBoard]:
    """Import an export file into a workspace; nothing is written unless all of it imports."""
    with Spool(spool_dir) as spool:
        await to_thread.run_sync(functools.partial(parse, fmt, path, spool, progress))
        return await import_spool(uow, actor, workspace_id, spool, SOURCES[fmt], progress)
