"""Settings a container deployment needs: the database password apart from the URL, trusted proxy headers."""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from orbitask.cli import app
from orbitask.config import Settings

WRITER = "mysql+asyncmy://orbitask@writer.example:3306/orbitask"
READER = "mysql+asyncmy://orbitask@reader.example:3306/orbitask"


def test_the_password_goes_into_both_urls_escaped() -> None:
    settings = Settings(database_url=WRITER, database_reader_url=READER, database_password="p@ss/w:rd")

    assert settings.writer_url == "mysql+asyncmy://orbitask:p%40ss%2Fw%3Ard@writer.example:3306/orbitask"
    assert settings.reader_url == "mysql+asyncmy://orbitask:p%40ss%2Fw%3Ard@reader.example:3306/orbitask"


def test_a_password_in_the_url_wins_and_none_changes_nothing() -> None:
    own = "mysql+asyncmy://orbitask:own@writer.example/orbitask"
    assert Settings(database_url=own, database_password="other").writer_url == own
    assert Settings(database_url=WRITER).reader_url == WRITER


def test_the_password_is_masked_in_config_show() -> None:
    shown = Settings(database_url=WRITER, database_password="hunter2-hunter2").shown()

    assert shown["database_password"] == "********"
    assert "hunter2" not in repr(shown)


@pytest.mark.parametrize("allowed", [None, "10.10.0.0/16"])
def test_serve_believes_forwarded_headers_only_from_the_configured_proxies(
    allowed: str | None, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.update(kwargs))
    monkeypatch.setenv("ORBITASK_DATA_DIR", str(tmp_path))
    for name in ("ORBITASK_SERVICES", "ORBITASK_PUBLIC_URL"):  # serve writes these for its workers: put back after
        monkeypatch.setenv(name, "")  # (left behind, every server a later test starts in this process inherits them)
        monkeypatch.delenv(name)
    if allowed:
        monkeypatch.setenv("ORBITASK_FORWARDED_ALLOW_IPS", allowed)
    else:
        monkeypatch.delenv("ORBITASK_FORWARDED_ALLOW_IPS", raising=False)

    result = CliRunner().invoke(app, ["serve", "--no-migrate"])

    assert result.exit_code == 0, result.output
    assert seen["proxy_headers"] is (allowed is not None) and seen["forwarded_allow_ips"] == allowed


def test_a_variable_set_to_nothing_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """deploy/docker/compose.yaml passes `ORBITASK_SMTP_HOST: ${ORBITASK_SMTP_HOST:-}`: no SMTP server, not one
    named "" (which would turn on e-mail, and with it sign-up verification that can never arrive)."""
    for name in ("ORBITASK_SMTP_HOST", "ORBITASK_SMTP_USERNAME", "ORBITASK_PUBLIC_URL"):
        monkeypatch.setenv(name, "")
    settings = Settings()
    assert settings.smtp_host is None and settings.smtp_username is None
    assert settings.public_url.startswith("http://")


def test_config_show_says_what_an_unset_setting_means() -> None:
    shown = Settings().shown()
    assert shown["log_json"] == "unset (JSON unless standard error is a terminal (then one readable line each))"
    assert shown["signup_verification"] == "unset (on when smtp_host is set)"
    assert shown["database_url"] == "unset (SQLite in data_dir)"
    assert shown["smtp_username"] == "unset"
    assert "None" not in {str(value) for value in shown.values()}
