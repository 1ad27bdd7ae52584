"""The full-text index over `search_entry.terms`, per backend: used by the migration and by `metadata.create_all`.

SQLite: an FTS5 table with external content (the rows stay in `search_entry`) kept by three triggers, and
`search_term`, every token ever indexed, which turns a long prefix into the exact words it starts
(FTS5 answers a prefix longer than its prefix indexes by merging every matching word's postings first).
MariaDB/MySQL: an InnoDB FULLTEXT index. PostgreSQL: a GIN index on the 'simple' tsvector of the terms.
SQLAlchemy's models cannot declare any of these, so Alembic's comparison must leave them alone
(`is_ddl_object`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, event

FTS_TABLE = "search_fts"
TERM_TABLE = "search_term"
TERMS_INDEX = "ix_search_entry_terms"
TSVECTOR = "to_tsvector('simple'::regconfig, terms)"  # the indexed expression; queries must spell it alike
_TRIGGERS = ("search_entry_ai", "search_entry_ad", "search_entry_au")
_FTS_SHADOWS = tuple(f"{FTS_TABLE}_{suffix}" for suffix in ("data", "idx", "docsize", "config", "content"))

CREATE_TERMS = f"CREATE TABLE IF NOT EXISTS {TERM_TABLE} (term TEXT PRIMARY KEY) WITHOUT ROWID"
_SQLITE_CREATE = (
    f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(terms, content='search_entry', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 0', prefix='1 2 3')",
    f"CREATE TRIGGER search_entry_ai AFTER INSERT ON search_entry BEGIN "
    f"INSERT INTO {FTS_TABLE}(rowid, terms) VALUES (new.id, new.terms); END",
    f"CREATE TRIGGER search_entry_ad AFTER DELETE ON search_entry BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, terms) VALUES ('delete', old.id, old.terms); END",
    f"CREATE TRIGGER search_entry_au AFTER UPDATE ON search_entry BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, terms) VALUES ('delete', old.id, old.terms); "
    f"INSERT INTO {FTS_TABLE}(rowid, terms) VALUES (new.id, new.terms); END",
    CREATE_TERMS,
)
# SQLite: search_term made again from the index's own vocabulary (one pass over it: about a second per million
# cards), without the board markers; the word list then holds no word of text deleted since.
REFILL_TERMS = (
    f"CREATE VIRTUAL TABLE temp.search_vocabulary USING fts5vocab(main, {FTS_TABLE}, row)",
    f"DELETE FROM {TERM_TABLE}",
    f"INSERT INTO {TERM_TABLE} (term) SELECT term FROM temp.search_vocabulary WHERE substr(term, 1, 1) <> char(57344)",
    "DROP TABLE temp.search_vocabulary",
)
_CREATE: dict[str, tuple[str, ...]] = {
    "sqlite": _SQLITE_CREATE,
    "mysql": (f"CREATE FULLTEXT INDEX {TERMS_INDEX} ON search_entry (terms)",),
    "postgresql": (f"CREATE INDEX {TERMS_INDEX} ON search_entry USING gin ({TSVECTOR})",),
}
_DROP: dict[str, tuple[str, ...]] = {
    "sqlite": (*(f"DROP TRIGGER IF EXISTS {t}" for t in _TRIGGERS), f"DROP TABLE IF EXISTS {FTS_TABLE}",
               f"DROP TABLE IF EXISTS {TERM_TABLE}"),
    "mysql": (f"DROP INDEX {TERMS_INDEX} ON search_entry",),
    "postgresql": (f"DROP INDEX IF EXISTS {TERMS_INDEX}",),
}


def _family(dialect: str) -> str:
    return "mysql" if dialect == "mariadb" else dialect


def create_statements(dialect: str) -> tuple[str, ...]:
    """The statements that build the full-text index on `dialect` (after `search_entry` exists)."""
    return _CREATE[_family(dialect)]


def drop_statements(dialect: str) -> tuple[str, ...]:
    """The statements that remove it (before `search_entry` goes)."""
    return _DROP[_family(dialect)]


def is_ddl_object(name: str | None, type_: str) -> bool:
    """Whether a reflected table or index is this module's (Alembic's autogenerate cannot compare them)."""
    if type_ == "table":
        return name in (FTS_TABLE, TERM_TABLE) or name in _FTS_SHADOWS
    return type_ == "index" and name == TERMS_INDEX


def attach(table: Table) -> None:
    """Build and drop the full-text index with `table` in `metadata.create_all` / `drop_all`."""

    def create(_: Any, connection: Any, **__: Any) -> None:
        for statement in create_statements(connection.dialect.name):
            connection.exec_driver_sql(statement)

    def drop(_: Any, connection: Any, **__: Any) -> None:
        for statement in drop_statements(connection.dialect.name):
            connection.exec_driver_sql(statement)

    event.listen(table, "after_create", create)
    event.listen(table, "before_drop", drop)
