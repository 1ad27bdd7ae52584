"""Settings from files (`ORBITASK_<NAME>_FILE`), as Docker and Kubernetes secrets provide them."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from orbitask.config import Settings


def test_secrets_and_dsns_can_come_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "key").write_text("k" * 40 + "\n")
    (tmp_path / "dsn").write_text("mysql+asyncmy://app:p%40ss@db:3306/orbitask\n")
    monkeypatch.setenv("ORBITASK_SECRET_KEY_FILE", str(tmp_path / "key"))
    monkeypatch.setenv("ORBITASK_DATABASE_URL_FILE", str(tmp_path / "dsn"))
    settings = Settings()
    assert settings.secret_key is not None and settings.secret_key.get_secret_value() == "k" * 40
    assert settings.database_url == "mysql+asyncmy://app:p%40ss@db:3306/orbitask"
    shown = settings.shown()
    assert "k" * 40 not in str(shown) and "p%40ss" not in str(shown)


def test_an_explicit_value_wins_over_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "region").write_text("from-file")
    monkeypatch.setenv("ORBITASK_REGION_FILE", str(tmp_path / "region"))
    assert Settings(region="explicit").region == "explicit"
    assert Settings().region == "from-file"


def test_an_unreadable_secret_file_stops_the_start_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORBITASK_SECRET_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValidationError) as failed:
        Settings()
    assert "ORBITASK_SECRET_KEY_FILE" in str(failed.value) and "missing" in str(failed.value)
