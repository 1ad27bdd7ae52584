"""The web client's API types are generated from the server's OpenAPI schema and must match it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from scripts.openapi import main as export_schema

ROOT = Path(__file__).resolve().parents[2]
TYPES = ROOT / "web" / "src" / "api" / "schema.d.ts"
GENERATOR = ROOT / "web" / "node_modules" / ".bin" / "openapi-typescript"


def test_committed_client_types_match_the_servers_schema(tmp_path: Path) -> None:
    if not GENERATOR.exists() or shutil.which("node") is None:
        pytest.fail("The web dependencies are missing: run `make web` (npm ci in web/) first.")
    schema = tmp_path / "openapi.json"
    export_schema(["openapi", str(schema)])
    out = tmp_path / "schema.d.ts"
    subprocess.run([str(GENERATOR), str(schema), "--default-non-nullable", "false", "-o", str(out)],
                   check=True, capture_output=True, timeout=120)
    assert out.read_text() == TYPES.read_text(), (
        "The API changed but web/src/api/schema.d.ts did not: run `make api-types`, then fix what "
        "`npm run build` (the TypeScript check of the client) reports."
    )
