"""HTTP Range requests (RFC 9110 section 14): one byte range per request."""

from __future__ import annotations

import re

from orbitask.core.errors import DomainError

_SINGLE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


class RangeNotSatisfiable(DomainError):
    status, type, title = 416, "range-not-satisfiable", "Range not satisfiable"

    def __init__(self, size: int) -> None:
        super().__init__(f"The requested range is outside the file's {size} bytes.", size=size)
        self.headers = {"Content-Range": f"bytes */{size}"}


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, length) of a single `bytes=` range, or None to send the whole file.

    Headers this server does not understand (other units, several ranges, garbage) are
    ignored as the RFC allows: the answer is then the whole file with 200.
    """
    if not header:
        return None
    match = _SINGLE.match(header)
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        suffix = int(last)
        if suffix == 0:
            raise RangeNotSatisfiable(size)
        start = max(0, size - suffix)
        return start, size - start
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        return None  # invalid syntax: ignored
    if start >= size:
        raise RangeNotSatisfiable(size)
    return start, end - start + 1
