"""`orbitask import` and `orbitask export`, run as real subprocesses against a seeded data directory."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.conftest import TRELLO_FIXTURE
from tests.e2e.test_cli import DEMO_PASSWORD, run_cli

WORKSPACE = "Orbitask demo"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("transfer-cli")
    assert run_cli(path, "demo", "--password", DEMO_PASSWORD).returncode == 0
    return path


def test_import_trello_shows_progress_and_what_it_made_then_updates_on_reimport(data_dir: Path) -> None:
    first = run_cli(data_dir, "import", "trello", str(TRELLO_FIXTURE), "--workspace", WORKSPACE)
    assert first.returncode == 0, first.stderr
    assert "Reading" in first.stderr and "Writing" in first.stderr and "100%" in first.stderr  # the progress bars
    assert "Website relaunch" in first.stdout and "new" in first.stdout
    board_id = next(w for w in first.stdout.split() if w.count("-") == 4)

    again = run_cli(data_dir, "import", "trello", str(TRELLO_FIXTURE), "-w", WORKSPACE)
    assert again.returncode == 0, again.stderr
    assert board_id in again.stdout and "updated" in again.stdout

    out = data_dir / "board.json"
    exported = run_cli(data_dir, "export", "board", board_id, "--output", str(out))
    assert exported.returncode == 0, exported.stderr
    doc = json.loads(out.read_text())
    assert doc["boards"][0]["name"] == "Website relaunch" and len(doc["cards"]) == 4
    assert not out.with_name("board.json.partial").exists()

    copied = run_cli(data_dir, "import", "orbitask", str(out), "-w", WORKSPACE)
    assert copied.returncode == 0, copied.stderr
    assert "new" in copied.stdout and board_id not in copied.stdout

    table = run_cli(data_dir, "export", "workspace", WORKSPACE, "--format", "csv")
    assert table.returncode == 0, table.stderr
    rows = list(csv.DictReader(io.StringIO(table.stdout.lstrip("\ufeff"))))
    assert sum(1 for r in rows if r["board"] == "Website relaunch") == 8  # the import and its copy
    assert {r["board"] for r in rows} >= {"Product launch", "Engineering sprint", "Marketing site"}


def test_import_errors_name_the_problem_and_import_nothing(data_dir: Path) -> None:
    before = run_cli(data_dir, "export", "workspace", WORKSPACE, "-f", "csv").stdout
    bad = data_dir / "bad.json"
    bad.write_bytes(TRELLO_FIXTURE.read_bytes()[:3000])
    result = run_cli(data_dir, "import", "trello", str(bad), "-w", WORKSPACE)
    assert result.returncode == 1
    assert "truncated" in result.stderr and "Traceback" not in result.stderr
    assert run_cli(data_dir, "export", "workspace", WORKSPACE, "-f", "csv").stdout == before

    missing = run_cli(data_dir, "import", "trello", str(TRELLO_FIXTURE), "-w", "No such workspace")
    assert missing.returncode == 1 and "No workspace" in missing.stderr
    nobody = run_cli(data_dir, "import", "trello", str(TRELLO_FIXTURE), "-w", WORKSPACE, "--as", "who@example.com")
    assert nobody.returncode == 1 and "No user" in nobody.stderr
    unknown = run_cli(data_dir, "export", "board", "not-an-id")
    assert unknown.returncode == 1 and "not a board id" in unknown.stderr


HOSTILE = {  # name -> (a card's raw JSON fields, words of the one error line)
    "deep nesting": ('"name": ' + "[" * 5000 + "]" * 5000, "field 'name' nests arrays and objects more than"),
    "NUL in a description": ('"name": "[/bold] [link=x]Launch", "desc": "a\\u0000"',
                             "card '[/bold] [link=x]Launch': field 'desc' must not contain NUL"),
    "junk in an ignored field": ('"name": "x", "junk": "' + "y" * (2 << 20) + '"', "field 'junk' holds a value longer"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_files_fail_with_one_line_and_no_traceback(data_dir: Path, case: str) -> None:
    fields, words = HOSTILE[case]
    doc = json.loads(TRELLO_FIXTURE.read_text())
    doc["cards"] = [{"id": "5f1a00000000000000000c09", "idList": doc["lists"][0]["id"], "pos": 1, "CARD": 0}]
    hostile = data_dir / f"hostile-{case.replace(' ', '-')}.json"
    hostile.write_text(json.dumps(doc).replace('"CARD": 0', fields))
    result = run_cli(data_dir, "import", "trello", str(hostile), "-w", WORKSPACE)
    assert result.returncode == 1, result.stderr[-2000:]
    [line] = [x for x in result.stderr.splitlines() if x.startswith("Failed")]
    assert words in line and "Traceback" not in result.stderr, result.stderr[-2000:]
