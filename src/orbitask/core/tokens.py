"""Consistency tokens: an opaque name for the newest event a client has caused."""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass

HEADER = "X-Orbitask-Token"
_PREFIX = "v1"


@dataclass(frozen=True, slots=True)
class ConsistencyToken:
    """The event a read must be able to see (its global sequence and id)."""

    seq: int
    event_id: uuid.UUID

    def encode(self) -> str:
        """Opaque URL-safe form sent to clients."""
        raw = f"{_PREFIX}:{self.seq}:{self.event_id.hex}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> ConsistencyToken | None:
        """Parse a token from a client; None when it is not one of ours."""
        if not text or len(text) > 200:
            return None
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            prefix, seq, hex_id = raw.split(":")
            if prefix != _PREFIX:
                return None
            value = cls(int(seq), uuid.UUID(hex=hex_id))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None
        return value if value.seq > 0 else None

    def newer(self, other: ConsistencyToken | None) -> ConsistencyToken:
        """The later of two tokens."""
        return self if other is None or self.seq >= other.seq else other
