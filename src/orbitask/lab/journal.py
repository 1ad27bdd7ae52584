"""The lab's journal (`LAB_DIR/lab.log`): drill and controller steps and every administrative statement.

Every lab process (the supervisor, `orbitask lab drill`, `lab switchover`, ...) appends to the same
file, one write per line (O_APPEND: lines from several processes do not interleave), so when a
drill fails or hangs the journal shows the step it was in and each statement's server and time.
A poll (one server asked the same again and again) is written once, then counted.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from pathlib import Path

FILE = "lab.log"
STATEMENT_CHARS = 300
COUNT_EVERY = 100  # a poll that goes on is reported every that many repeats
_SECRET = re.compile(r"((?:PASSWORD|IDENTIFIED BY)\s*=?\s*)'[^']*'", re.IGNORECASE)
_lock = threading.Lock()
_last: dict[tuple[Path, str], tuple[str, int]] = {}  # (journal, stream) -> its last line's key, repeats since


def path(lab_dir: Path) -> Path:
    """Where the journal of the lab in `lab_dir` is."""
    return lab_dir / FILE


def write(journal: Path | None, text: str, *, stream: str = "", key: str | None = None) -> None:
    """Append `text` as a line (UTC time, process id); nothing without a journal.

    A line with the same `key` as the previous one of this process's `stream` (a server polled
    again and again) is only counted.
    """
    if journal is None:
        return
    with _lock:
        last, repeats = _last.get((journal, stream), ("", 0))
        if key is not None and key == last:
            repeats += 1
            if repeats < COUNT_EVERY:
                _last[journal, stream] = (key, repeats)
                return
            lines = [_line(f"{stream}: the same {repeats} more times")]
        else:
            lines = [_line(f"{stream}: the same {repeats} more times")] if repeats else []
            lines.append(_line(text))
        _last[journal, stream] = (key or "", 0)
        with contextlib.suppress(OSError), open(journal, "a", encoding="utf-8") as out:  # never fails a step
            out.write("".join(lines))


def _line(text: str) -> str:
    now = time.time()
    stamp = time.strftime("%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}"
    return f"{stamp} [{os.getpid()}] {' '.join(text.split())}\n"


def shown(statements: str) -> str:
    """A statement as the journal and error messages show it: passwords masked, one line, bounded."""
    masked = _SECRET.sub(r"\1'***'", statements)
    text = " ".join(masked[:2 * STATEMENT_CHARS].split())
    cut = len(text) > STATEMENT_CHARS or len(masked) > 2 * STATEMENT_CHARS
    return text[:STATEMENT_CHARS] + " ..." if cut else text
