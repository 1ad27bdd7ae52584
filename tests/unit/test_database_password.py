"""ORBITASK_DATABASE_PASSWORD fills in database URLs that carry no password (ECS injects it from the RDS secret)."""

from __future__ import annotations

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
