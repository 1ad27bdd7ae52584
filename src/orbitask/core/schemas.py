"""Base classes for API input and output models."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

BIGINT_MAX = 2**63 - 1
# An integer every backend stores (SQLite's INTEGER, BIGINT elsewhere): for query and path parameters that
# reach the database, narrowed further where they are declared. Past it SQLite's driver raises OverflowError.
DbInt = Annotated[int, Field(ge=-BIGINT_MAX - 1, le=BIGINT_MAX)]
NUL_REFUSED = "must not contain NUL (\\u0000) characters"


def _check_text(value: Any) -> Any:
    """Refuse text no database stores faithfully: NUL characters and unpaired surrogates."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(NUL_REFUSED)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode (it contains an unpaired surrogate)") from None
    elif isinstance(value, list | tuple | set):
        for item in value:
            _check_text(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    return value


class Input(BaseModel):
    """Request bodies: unknown fields are refused, strings trimmed, NULs and broken Unicode refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        return _check_text(value)


class Output(BaseModel):
    """Response bodies, built from ORM rows."""

    model_config = ConfigDict(from_attributes=True)
