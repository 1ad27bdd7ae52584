"""Streaming a large JSON export, keeping only the fields the importer reads, within bounds, with clear errors.

The parser's events are built into values only as far as a shape (derived from the import's
Pydantic models) names them: an unknown field, or an array or object where a value belongs, is
read past without being built. So memory follows what is kept, never the file: a card
carrying a million-element junk array costs what its known fields cost. Nesting depth, the
length of any single token and the size of one kept element are bounded too.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Annotated, Any, Union

import ijson
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from orbitask.core.errors import DomainError
from orbitask.core.schemas import NUL_REFUSED
from orbitask.transfer.guard import LONE_SURROGATE, Guard, RunTooLong

Progress = Callable[[str, int, int], None]  # (phase, done, total)

MAX_DEPTH = 64  # nesting of arrays and objects anywhere in the file; exports nest about 6 deep
MAX_RUN_BYTES = 1 << 20  # bytes between two string delimiters: bounds every string, number and gap
MAX_ELEMENT_BYTES = 16 << 20  # kept data of one top-level value (a card with its attachments and comments)
READ_BYTES = 16 << 10
MAX_ITEMS = 10_000  # items of a kept array whose model sets no limit of its own (a card's label ids)
_STEP = {"start_map": 1, "start_array": 1, "end_map": -1, "end_array": -1}


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


@dataclass(frozen=True)
class Many:
    """An array whose items have the shape `item`, at most `limit` of them."""

    item: Shape
    limit: int


Shape = dict[str, "Shape"] | Many | None  # an object's known fields, an array, or any value (None)
_UNKNOWN = object()  # a field the shape does not name: skipped


class Skipped:
    """Stands in for an array or object where the shape wanted something else: read past, never built."""

    def __init__(self, event: str) -> None:
        self.kind = "an object" if event == "start_map" else "an array"

    def __repr__(self) -> str:
        return self.kind


def shape_of(model: type[BaseModel]) -> dict[str, Shape]:
    """The fields of a model as a shape: nested models and lists are followed, anything else is a value."""
    return {name: _shape(field.annotation, field.metadata) for name, field in model.model_fields.items()}


def _shape(annotation: Any, metadata: list[Any]) -> Shape:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        inner, *extra = typing.get_args(annotation)
        return _shape(inner, [*metadata, *extra])
    if origin in (Union, types.UnionType):
        arms = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _shape(arms[0], metadata) if len(arms) == 1 else None
    if origin is list:
        found = [m for item in metadata for m in (item.metadata if isinstance(item, FieldInfo) else [item])]
        limit = min((m.max_length for m in found if getattr(m, "max_length", None)), default=MAX_ITEMS)
        return Many(_shape(typing.get_args(annotation)[0], []), limit)
    if origin is dict or annotation is dict:
        raise TypeError("an imported field must be a model, a list or a value, not a free-form dict")
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return shape_of(annotation)
    return None


class JsonStream:
    """(key, in_array, value) for the known top-level fields of a JSON object: `fields` whole, the elements of
    `arrays` one at a time (each built as far as its shape goes); all else is read past. `arrays_seen` names
    the arrays the file had, empty ones included."""

    def __init__(self, raw: IO[bytes], what: str, subject: str, *, fields: dict[str, Shape],
                 arrays: dict[str, Shape]) -> None:
        self.guard = Guard(raw, MAX_RUN_BYTES)
        self.what, self.subject = what, subject
        self.fields, self.arrays = fields, arrays
        self.arrays_seen: set[str] = set()
        self._events: Iterator[tuple[str, Any]] = iter(())
        self._key = ""  # where the parser is, for messages: top-level key, element number, element, path in it
        self._index: int | None = None
        self._element: Any = None
        self._path: list[Any] = []
        self._budget = MAX_ELEMENT_BYTES

    def __iter__(self) -> Iterator[tuple[str, bool, Any]]:
        # the parser queues every event of a read before handing out the first: small reads keep that small
        self._events = events = ijson.basic_parse(self.guard, buf_size=READ_BYTES, use_float=True)
        started = False
        try:
            first = next(events, None)
            started = True
            if first is None:
                raise ImportRejected("empty", f"The file is empty; expected {self.what}.")
            if first[0] != "start_map":
                kind = {"start_array": "an array"}.get(first[0], "a single value")
                raise ImportRejected("wrong-shape", f"The file holds {kind}, not {self.what} (a JSON object).")
            for event, value in events:
                if event == "map_key":
                    self._key, self._index, self._element, self._path = value, None, None, []
                elif event == "end_map":
                    if next(events, None) is not None:
                        raise ImportRejected("not-json", "The file has more data after the end of the JSON object.")
                    return
                elif self._key in self.arrays:
                    if event != "start_array":
                        raise ImportRejected("wrong-shape", f"This JSON is not {self.what}: '{self._key}' is not an "
                                             "array.")
                    self.arrays_seen.add(self._key)
                    yield from self._elements(self._key, self.arrays[self._key])
                elif self._key in self.fields:
                    yield self._key, False, self._value(event, value, self.fields[self._key], 1)
                elif event in ("start_map", "start_array"):
                    self._skip(2)
        except RunTooLong:
            raise self._rejected("value-too-large", f"holds a value longer than {MAX_RUN_BYTES:,} bytes; no field "
                                 "of an export is that long") from None
        except ijson.IncompleteJSONError as exc:
            message = _first_line(exc)
            if not started and ("premature EOF" in message or not message):
                raise ImportRejected("empty", f"The file is empty; expected {self.what}.") from None
            if "premature EOF" in message or "incomplete" in message.lower() or not message:
                raise ImportRejected(
                    "truncated", "The file ends in the middle of the JSON document: it is truncated (an interrupted "
                    "download or copy?). Export it again.") from None
            raise ImportRejected("not-json", f"The file is not valid JSON: {message}.") from None
        except ijson.JSONError as exc:
            raise ImportRejected("not-json", f"The file is not valid JSON: {_first_line(exc)}.") from None
        except UnicodeDecodeError:
            raise ImportRejected("not-json", "The file is not UTF-8 text, so it cannot be JSON.") from None

    def _elements(self, key: str, shape: Shape) -> Iterator[tuple[str, bool, Any]]:
        self._index, self._element, self._path = 0, None, []
        for event, value in self._events:
            if event == "end_array":
                return
            yield key, True, self._value(event, value, shape, 2)
            self._index, self._element, self._path = self._index + 1, None, []

    def _value(self, event: str, value: Any, shape: Shape, depth: int) -> Any:
        """The value that starts with this event, built as far as `shape` names it; the rest is read past."""
        self._budget = MAX_ELEMENT_BYTES
        if event not in _STEP:
            return self._keep(value)
        if not _fits(shape, event):
            self._skip(depth + 1)
            return Skipped(event)
        root: Any = {} if event == "start_map" else []
        self._element = root
        stack: list[tuple[Any, Any]] = [(root, shape)]  # containers being built, with their shapes
        path = self._path = [None]  # key (or index) of the value being read in each container
        for event, value in self._events:  # the same stream, read on
            if event == "map_key":
                path[-1] = value
                continue
            if event == "end_map" or event == "end_array":
                stack.pop()
                path.pop()
                if not stack:
                    return root
                continue
            parent, parent_shape = stack[-1]
            if isinstance(parent, list):
                if len(parent) >= parent_shape.limit:
                    path[-1] = None
                    raise self._rejected("too-many", f"has more than {parent_shape.limit:,} items")
                path[-1], child_shape = len(parent), parent_shape.item
            else:
                child_shape = parent_shape.get(path[-1], _UNKNOWN)
            if child_shape is _UNKNOWN:
                if event in _STEP:
                    self._skip(depth + len(stack) + 1)
                continue
            if event not in _STEP:
                child = self._keep(value)
            elif _fits(child_shape, event):
                if depth + len(stack) + 1 > MAX_DEPTH:
                    raise self._too_deep()
                child = {} if event == "start_map" else []
                self._budget -= 64
            else:
                self._skip(depth + len(stack) + 1)
                child = Skipped(event)
            if isinstance(parent, list):
                parent.append(child)
            else:
                parent[path[-1]] = child
            if isinstance(child, dict | list):
                stack.append((child, child_shape))
                path.append(None)
            if self._budget < 0:
                raise self._rejected("value-too-large", f"holds more than {MAX_ELEMENT_BYTES:,} bytes of data; one "
                                     "object of an export is never that large", at_field=False)
        raise ijson.IncompleteJSONError("premature EOF")

    def _skip(self, depth: int) -> None:
        """Read past the array or object that just started at `depth`, without building it."""
        level = 1
        if depth > MAX_DEPTH:
            raise self._too_deep()
        for event, _ in self._events:
            step = _STEP.get(event)
            if step is not None:
                level += step
                if level == 0:
                    return
                if depth + level - 1 > MAX_DEPTH:
                    raise self._too_deep()
        raise ijson.IncompleteJSONError("premature EOF")

    def _keep(self, value: Any) -> Any:
        """A scalar to keep: text no database stores faithfully is refused, as in JSON request bodies."""
        if isinstance(value, str):
            self._budget -= len(value) + 16
            if "\x00" in value:
                raise self._rejected("invalid-value", NUL_REFUSED)
            if self.guard.marked and LONE_SURROGATE in value:
                raise self._rejected("invalid-value", "must be valid Unicode (it contains an unpaired surrogate)")
        else:
            self._budget -= 16
        return value

    def _too_deep(self) -> ImportRejected:
        return self._rejected("too-deep", f"nests arrays and objects more than {MAX_DEPTH} deep; an export is never "
                              "that deep")

    def _rejected(self, reason: str, problem: str, *, at_field: bool = True) -> ImportRejected:
        """An ImportRejected naming the object and field the parser is in."""
        inner = [str(p) for p in self._path if p is not None]
        if self._index is None:
            subject, field = self.subject, ".".join([self._key, *inner])
        else:
            noun = self._key[:-1].replace("_", " ")
            known = self._element if isinstance(self._element, dict) else {}
            name = next((known[k] for k in ("name", "title", "id") if isinstance(known.get(k), str) and known[k]), None)
            subject = f"{noun} {name[:40]!r}" if name else f"{noun} number {self._index + 1:,}"
            field = ".".join(inner)
        if not field or not at_field:
            return ImportRejected(reason, f"{subject[0].upper()}{subject[1:]} {problem}.")
        return ImportRejected(reason, f"{subject}: field '{field}' {problem}.", field=field)


def _fits(shape: Any, event: str) -> bool:
    return isinstance(shape, dict) if event == "start_map" else isinstance(shape, Many)


def _first_line(exc: Exception) -> str:
    """The parser's message without its multi-line excerpt of the file (which may hold private data)."""
    arg = exc.args[0] if exc.args else ""
    text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    return (text.strip().splitlines() or [""])[0].strip().rstrip(".")[:200]
