"""The bytes of an import on their way to the JSON parser: no unbounded token, no silently altered text.

yajl, the parser, buffers a whole string or number before it reports it, and turns an unpaired
UTF-16 surrogate escape (\\ud800 with no partner) into '?'. This reader stops the first before it
happens and marks the second, so the importer can refuse it naming the field.
"""

from __future__ import annotations

import re
from typing import IO

LONE_SURROGATE = "\ufdd0"  # what an unpaired \uD800-\uDFFF escape becomes: a noncharacter, for internal use


class RunTooLong(Exception):
    """A string or number longer than the guard's limit."""


_DELIMITER = re.compile(rb'(?<!\\)(?:\\\\)*"')  # a quote that opens or closes a string (even backslashes before)
_LAST_DELIMITER = re.compile(rb'"(?:\\\\)*(?!\\)')  # the same, searched in the reversed bytes
_NUMBER = b"-+.0123456789eE"
_ANY_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE = re.compile(  # an escape (after an even run of backslashes): a valid pair, or a lone half
    rb"(?<!\\)((?:\\\\)*)(?:(\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2})|\\u[dD][89a-fA-F][0-9a-fA-F]{2})")


class Guard:
    """Feeds the parser: refuses a string or number longer than `limit` bytes before the parser buffers it,
    and turns unpaired surrogate escapes into LONE_SURROGATE (the parser would make them '?').

    An unfinished string is held back until it ends, so the parser is never given part of an escape.
    """

    def __init__(self, raw: IO[bytes], limit: int) -> None:
        self.raw, self.limit = raw, limit
        self.held = b""  # an unfinished string, from its opening quote, not yet given to the parser
        self.number = 0  # length of the number the last piece ended with
        self.marked = False

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""
        while True:
            chunk = self.raw.read(size)
            if not chunk:
                rest, self.held = self.held, b""
                return self._mark(rest)
            text = self.held + chunk
            outside = 0  # from here on, text is outside any string
            if self.held:  # only the new bytes (after a run of backslashes) can close the string held back
                closing = _DELIMITER.search(text, max(1, len(self.held.rstrip(b"\\"))))
                if (closing.end() if closing else len(text)) - 2 > self.limit:
                    raise RunTooLong
                if closing is None:
                    self.held = text
                    continue
                outside = closing.end()
            if _delimiters(text, outside) % 2 == 0:
                cut = len(text)
            else:  # a string starts and does not end here: hold it back from its opening quote
                cut = len(text) - 1 - _LAST_DELIMITER.search(text[outside:][::-1]).start()  # type: ignore[union-attr]
            self.held = text[cut:]
            if cut:
                piece = text[:cut]
                self._numbers(piece)
                return self._mark(piece)

    def _numbers(self, piece: bytes) -> None:
        """Track a number that goes on from one piece to the next (the parser would buffer all of it)."""
        lead = len(piece) - len(piece.lstrip(_NUMBER))
        if self.number and self.number + lead > self.limit:
            raise RunTooLong
        if lead == len(piece):
            self.number += lead
        else:
            self.number = len(piece) - len(piece.rstrip(_NUMBER))

    def _mark(self, data: bytes) -> bytes:
        if _ANY_SURROGATE.search(data) is None:
            return data
        return _SURROGATE_ESCAPE.sub(self._lone, data)

    def _lone(self, match: re.Match[bytes]) -> bytes:
        if match.group(2):
            return match.group(0)
        self.marked = True
        return match.group(1) + b"\\ufdd0"  # same length, so byte counts stay true


def _delimiters(text: bytes, start: int) -> int:
    """How many quotes open or close a string in text[start:], which starts outside any string."""
    quotes = text.count(b'"', start) - text.count(b'\\"', start)
    if text.find(b'\\\\"', start) == -1:  # no quote after an escaped backslash: none was miscounted
        return quotes
    return len(_DELIMITER.findall(text, start))
