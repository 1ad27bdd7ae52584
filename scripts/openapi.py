"""Write the API's OpenAPI schema (from create_app()) as JSON: the web client's types are generated from it.

    .venv/bin/python scripts/openapi.py build/openapi.json
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from orbitask.app import create_app
from orbitask.config import Settings


def schema() -> dict[str, object]:
    """The OpenAPI document of every service, built without touching a real data directory."""
    with tempfile.TemporaryDirectory() as tmp:
        return create_app(Settings(data_dir=Path(tmp), log_level="WARNING")).openapi()


def main(argv: list[str]) -> None:
    """Write the schema to argv[1] (or stdout)."""
    text = json.dumps(schema(), indent=1, sort_keys=True) + "\n"
    if len(argv) > 1:
        Path(argv[1]).parent.mkdir(parents=True, exist_ok=True)
        Path(argv[1]).write_text(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv)
