"""Streaming a large JSON export one top-level value (or array element) at a time, with clear errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import IO, Any

import ijson
from pydantic import ValidationError

from orbitask.core.errors import DomainError

Progress = Callable[[str, int, int], None]  # (phase, done, total)


class ImportRejected(DomainError):
    """The file cannot be imported; `reason` says why in one stable word, `detail` in a sentence."""

    status, type, title = 422, "import-rejected", "The file cannot be imported"

    def __init__(self, reason: str, detail: str, **extra: Any) -> None:
        super().__init__(detail, reason=reason, **extra)
        self.reason = reason


def describe(error: ValidationError, what: str) -> ImportRejected:
    """An ImportRejected naming the object and the first field that failed validation."""
    err = error.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "value"
    value = err.get("input")
    if isinstance(value, str) and len(value) > 60:
        shown = f"a string of {len(value):,} characters"
    else:
        shown = repr(value)[:80]
    reason = "value-too-large" if err["type"] in ("string_too_long", "too_long") else "invalid-value"
    return ImportRejected(reason, f"{what}: field '{field}' {err['msg'].lower()} (got {shown}).", field=field)


class CountingReader:
    """Wraps a binary file to report how many bytes were read (for progress bars)."""

    def __init__(self, raw: IO[bytes], total: int, progress: Progress | None) -> None:
        self.raw = raw
        self.total = total
        self.done = 0
        self.progress = progress

    def read(self, size: int = -1) -> bytes:
        chunk = self.raw.read(size)
        self.done += len(chunk)
        if self.progress is not None:
            self.progress("read", self.done, self.total)
        return chunk


def top_level(raw: IO[bytes], what: str) -> Iterator[tuple[str, bool, Any]]:
    """(key, in_array, value) for each top-level value of a JSON object; arrays yield one element at a time.

    Only one element is ever built in memory, so a 50,000-card array costs one card.
    """
    builder: ijson.ObjectBuilder | None = None
    started = False
    depth = 0  # nesting of the value being built, inside the top-level key
    key = ""
    in_array = False
    events = ijson.basic_parse(raw, use_float=True)
    try:
        first = next(events, None)
        started = True
        if first is None:
            raise ImportRejected("empty", f"The file is empty; expected {what}.")
        if first[0] != "start_map":
            kind = {"start_array": "an array"}.get(first[0], "a single value")
            raise ImportRejected("wrong-shape", f"The file holds {kind}, not {what} (a JSON object).")
        for event, value in events:
            if builder is not None:
                builder.event(event, value)
                if event in ("start_map", "start_array"):
                    depth += 1
                elif event in ("end_map", "end_array"):
                    depth -= 1
                if depth == 0:
                    yield key, in_array, builder.value
                    builder = None
                continue
            if event == "map_key":
                key = value
            elif event == "start_array" and not in_array:
                in_array = True
            elif event == "end_array" and in_array:
                in_array = False
            elif event == "end_map" and not in_array:
                trailing = next(events, None)
                if trailing is not None:
                    raise ImportRejected("not-json", "The file has more data after the end of the JSON object.")
                return
            else:
                builder = ijson.ObjectBuilder()
                builder.event(event, value)
                if event in ("start_map", "start_array"):
                    depth = 1
                else:
                    yield key, in_array, builder.value
                    builder = None
    except ijson.IncompleteJSONError as exc:
        message = _first_line(exc)
        if not started and ("premature EOF" in message or not message):
            raise ImportRejected("empty", f"The file is empty; expected {what}.") from None
        if "premature EOF" in message or "incomplete" in message.lower() or not message:
            raise ImportRejected(
                "truncated", "The file ends in the middle of the JSON document: it is truncated (an interrupted "
                "download or copy?). Export it again.") from None
        raise ImportRejected("not-json", f"The file is not valid JSON: {message}.") from None
    except ijson.JSONError as exc:
        raise ImportRejected("not-json", f"The file is not valid JSON: {_first_line(exc)}.") from None
    except UnicodeDecodeError:
        raise ImportRejected("not-json", "The file is not UTF-8 text, so it cannot be JSON.") from None


def _first_line(exc: Exception) -> str:
    """The parser's message without its multi-line excerpt of the file (which may hold private data)."""
    arg = exc.args[0] if exc.args else ""
    text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    return (text.strip().splitlines() or [""])[0].strip().rstrip(".")[:200]
