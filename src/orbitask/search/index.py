"""Keeping the search index: from the events a command emits, in the command's own transaction.

Importing this module registers the hook with the unit of work (core/uow.py); every entry point that
writes imports it (the app, the CLI, orbitask/models.py). Deletions of comments, items, checklists,
boards and workspaces need nothing here: the foreign keys' cascades remove the entries. A deleted card or
list goes to the trash (tasks/trash.py), its rows kept: its cards' entries are removed here, and put back
from the source tables when it is restored.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Uuid, bindparam, delete, func, insert, select, text
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.core.db import Database
from orbitask.core.events import Event
from orbitask.core.observability import SEARCH_INDEX
from orbitask.core.prepared import Prepared
from orbitask.core.uow import add_commit_hook
from orbitask.search import ddl
from orbitask.search.models import SearchEntry
from orbitask.search.syntax import BOARD_MARK, stored_terms
from orbitask.search.text import index_tokens
from orbitask.tasks.models import Attachment, Card, ChecklistItem, Comment

BATCH = 500  # cards per rebuild statement set (and per reindex transaction)
MAX_TOKENS = 20_000  # per entry: a 64 KiB description of CJK text makes ~40,000 (PostgreSQL's tsvector stops at 1 MB)
ENTRY = SearchEntry.__table__
_COLUMNS = ("card_id", "kind", "source_id", "comment_id", "item_id", "terms", "body")
_DELETE = Prepared(delete(ENTRY).where(ENTRY.c.kind == bindparam("kind"),
                                       ENTRY.c.source_id.in_(bindparam("ids", expanding=True))))
_DELETE_CARDS = delete(ENTRY).where(ENTRY.c.card_id.in_(bindparam("ids", expanding=True)))
# deleting a card is a hot command: `Prepared`, so on SQLite it runs on the connection (core/prepared.py)
_DELETE_CARD = Prepared(delete(ENTRY).where(ENTRY.c.card_id == bindparam("card_id", type_=Uuid())))
# typed here: this module may be imported before the lists' table, when the card's list_id is not yet typed
_LIST_CARDS = select(Card.id).where(Card.list_id == bindparam("list_id", type_=Uuid()))
_LIVE_LIST_CARDS = _LIST_CARDS.where(Card.deleted_at.is_(None))
_UPSERTS: dict[str, Prepared] = {}
# one statement and one parameter for any number of words; `Prepared`: card commands are hot (core/prepared.py)
_REMEMBER = Prepared(text(f"INSERT OR IGNORE INTO {ddl.TERM_TABLE} (term) SELECT value FROM json_each(:words)"))
_PIECES = re.compile(r"[^\W_]+")  # the words FTS5's tokenizer makes of a stored token ("a_b" is "a" and "b")
Entry = dict[str, Any]


def _upsert(dialect: str) -> Prepared:
    """INSERT ... or update the terms and text of the entry already there for the same (kind, source_id)."""
    if dialect not in _UPSERTS:
        if dialect == "sqlite" or dialect == "postgresql":
            stmt = (sqlite.insert(ENTRY) if dialect == "sqlite" else postgresql.insert(ENTRY))
            stmt = stmt.on_conflict_do_update(index_elements=[ENTRY.c.kind, ENTRY.c.source_id],
                                              set_={"terms": stmt.excluded.terms, "body": stmt.excluded.body})
        else:
            stmt = mysql.insert(ENTRY)
            stmt = stmt.on_duplicate_key_update(terms=stmt.inserted.terms, body=stmt.inserted.body)
        _UPSERTS[dialect] = Prepared(stmt)
    return _UPSERTS[dialect]


def entry(dialect: str, kind: str, source_id: uuid.UUID, card_id: uuid.UUID, text: str, *, board_id: uuid.UUID,
          comment_id: uuid.UUID | None = None, item_id: uuid.UUID | None = None) -> Entry | None:
    """The row for one piece of text (None when it has no tokens: the entry is removed). A card that moves to
    another board needs its entries rebuilt: on SQLite they carry the board (syntax.board_marker)."""
    tokens = index_tokens(text)[:MAX_TOKENS]
    if not tokens:
        return None
    return {"card_id": card_id, "kind": kind, "source_id": source_id, "comment_id": comment_id, "item_id": item_id,
            "terms": stored_terms(tokens, dialect, board_id), "body": text}


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


def _from_event(dialect: str, event: Event) -> Iterable[tuple[str, uuid.UUID, Entry | None]]:
    """(kind, source id, the entry or None to remove it) for each piece of text `event` sets."""
    payload, kind, board_id = event.payload, event.type, _uuid(event.board_id)
    if kind in ("card.created", "card.updated"):
        card = payload["card"]
        card_id = _uuid(card["id"])
        fields = ("title", "description") if kind == "card.created" else set(payload["changes"]) & {"title", "description"}
        for field in fields:
            yield field, card_id, entry(dialect, field, card_id, card_id, card[field], board_id=board_id)
    elif kind in ("comment.created", "comment.updated"):
        comment = payload["comment"]
        comment_id = _uuid(comment["id"])
        text = "" if comment.get("deleted_at") else comment["body"]
        yield "comment", comment_id, entry(dialect, "comment", comment_id, _uuid(comment["card_id"]), text,
                                           board_id=board_id, comment_id=comment_id)
    elif kind == "comment.deleted":  # comments stay as "deleted" placeholders: no cascade
        yield "comment", _uuid(payload["comment_id"]), None
    elif kind == "checklist_item.created" or (kind == "checklist_item.updated" and "text" in payload["changes"]):
        item = payload["item"]
        item_id = _uuid(item["id"])
        yield "item", item_id, entry(dialect, "item", item_id, _uuid(item["card_id"]), item["text"],
                                     board_id=board_id, item_id=item_id)
    elif kind == "attachment.created":
        attachment = payload["attachment"]
        attachment_id = _uuid(attachment["id"])
        yield "attachment", attachment_id, entry(dialect, "attachment", attachment_id, _uuid(attachment["card_id"]),
                                                 attachment["filename"], board_id=board_id)
    elif kind == "attachment.deleted":  # attachments are soft-deleted (the file is collected later): no cascade
        yield "attachment", _uuid(payload["attachment_id"]), None


_TEXT_EVENTS = frozenset({
    "card.created", "card.updated", "comment.created", "comment.updated", "comment.deleted",
    "checklist_item.created", "checklist_item.updated", "attachment.created", "attachment.deleted",
})
BOARD_IMPORTED = "board.imported"
# to the trash and back: every entry of the cards concerned goes, or is computed again
_TRASH_EVENTS = frozenset({"card.deleted", "list.deleted", "card.restored", "list.restored"})


def words_of(rows: Iterable[Entry]) -> set[str]:
    """The words these entries index: each stored token and the pieces FTS5 splits it into."""
    words: set[str] = set()
    for row in rows:
        for token in row["terms"].split():
            if not token.startswith(BOARD_MARK):
                words.add(token)
                words.update(_PIECES.findall(token))
    return words


async def _remember_words(session: AsyncSession, rows: list[Entry]) -> None:
    """Add the entries' words to SQLite's word list (service.expand_prefixes reads it); a word no entry holds
    any more stays: it only ever expands a prefix to one more word that matches nothing."""
    if rows and session.get_bind().dialect.name == "sqlite":
        await _REMEMBER.run(session, {"words": json.dumps(sorted(words_of(rows)), ensure_ascii=False)})


async def write(session: AsyncSession, changes: dict[tuple[str, uuid.UUID], Entry | None]) -> None:
    """Apply entries (upserted) and removals (None): one statement per kind of write."""
    rows = [e for e in changes.values() if e is not None]
    await _remember_words(session, rows)
    if rows:
        upsert = _upsert(session.get_bind().dialect.name)
        if len(rows) == 1:
            await upsert.run(session, rows[0])
        else:
            await session.execute(upsert.statement, rows)
    removed: dict[str, list[uuid.UUID]] = {}
    for (kind, source_id), row in changes.items():
        if row is None:
            removed.setdefault(kind, []).append(source_id)
    for kind, ids in removed.items():
        await _DELETE.run(session, {"kind": kind, "ids": ids})


async def on_commit(session: AsyncSession, events: list[Event]) -> None:
    """The commit hook: index what this command's events wrote, before it commits."""
    if not any(e.type in _TEXT_EVENTS or e.type in _TRASH_EVENTS or e.type == BOARD_IMPORTED for e in events):
        return
    started = time.perf_counter()
    dialect = session.get_bind().dialect.name
    for event in events:
        if event.type == BOARD_IMPORTED:  # bulk writes without per-row events: recompute the board
            await rebuild_board(session, _uuid(event.payload["board_id"]))
    changes: dict[tuple[str, uuid.UUID], Entry | None] = {}
    for event in events:
        if event.type in _TEXT_EVENTS:
            for kind, source_id, row in _from_event(dialect, event):
                changes[kind, source_id] = row  # the last event about a piece of text wins
    await write(session, changes)
    for event in events:
        if event.type in _TRASH_EVENTS:
            await _follow_trash(session, event)
    SEARCH_INDEX.observe(time.perf_counter() - started)


async def _follow_trash(session: AsyncSession, event: Event) -> None:
    """A card or list went to the trash (its cards' entries go) or came back (they are computed again)."""
    payload = event.payload
    if event.type == "card.deleted":
        await _DELETE_CARD.run(session, {"card_id": _uuid(payload["card_id"])})
    elif event.type == "card.restored":
        await rebuild(session, [_uuid(payload["card"]["id"])])
    else:
        list_id = _uuid(payload["list_id"] if event.type == "list.deleted" else payload["list"]["id"])
        query = _LIST_CARDS if event.type == "list.deleted" else _LIVE_LIST_CARDS
        ids = list((await session.execute(query, {"list_id": list_id})).scalars())
        if event.type == "list.deleted" and ids:
            await session.execute(_DELETE_CARDS, {"ids": ids})
        elif ids:
            await rebuild(session, ids)


add_commit_hook(on_commit)

_CARD_TEXT = select(Card.id, Card.board_id, Card.title, Card.description).where(
    Card.id.in_(bindparam("ids", expanding=True)))
_COMMENT_TEXT = select(Comment.id, Comment.card_id, Comment.body).where(
    Comment.card_id.in_(bindparam("ids", expanding=True)), Comment.deleted_at.is_(None))
_ITEM_TEXT = select(ChecklistItem.id, ChecklistItem.card_id, ChecklistItem.text).where(
    ChecklistItem.card_id.in_(bindparam("ids", expanding=True)))
_ATTACHMENT_TEXT = select(Attachment.id, Attachment.card_id, Attachment.filename).where(
    Attachment.card_id.in_(bindparam("ids", expanding=True)), Attachment.deleted_at.is_(None))


async def entries_of(session: AsyncSession, card_ids: Sequence[uuid.UUID]) -> list[Entry]:
    """Every entry these cards should have, computed from the source tables."""
    dialect = session.get_bind().dialect.name
    params = {"ids": list(card_ids)}
    found: list[Entry | None] = []
    board_of: dict[uuid.UUID, uuid.UUID] = {}
    for card_id, board_id, title, description in await session.execute(_CARD_TEXT, params):
        board_of[card_id] = board_id
        found.append(entry(dialect, "title", card_id, card_id, title, board_id=board_id))
        found.append(entry(dialect, "description", card_id, card_id, description, board_id=board_id))
    for comment_id, card_id, body in await session.execute(_COMMENT_TEXT, params):
        found.append(entry(dialect, "comment", comment_id, card_id, body, board_id=board_of[card_id],
                           comment_id=comment_id))
    for item_id, card_id, item_text in await session.execute(_ITEM_TEXT, params):
        found.append(entry(dialect, "item", item_id, card_id, item_text, board_id=board_of[card_id], item_id=item_id))
    for attachment_id, card_id, filename in await session.execute(_ATTACHMENT_TEXT, params):
        found.append(entry(dialect, "attachment", attachment_id, card_id, filename, board_id=board_of[card_id]))
    return [e for e in found if e is not None]


async def rebuild(session: AsyncSession, card_ids: Sequence[uuid.UUID]) -> int:
    """Replace these cards' entries with ones computed from the source tables; the number written."""
    if not card_ids:
        return 0
    rows = await entries_of(session, card_ids)
    await session.execute(_DELETE_CARDS, {"ids": list(card_ids)})
    await _remember_words(session, rows)
    if rows:
        await session.execute(insert(ENTRY), rows)
    return len(rows)


async def rebuild_board(session: AsyncSession, board_id: uuid.UUID | None,
                        progress: Callable[[int], None] | None = None) -> None:
    """Recompute the entries of every card of a board (after an import), or of every card (after a restore),
    BATCH cards at a time in the caller's transaction; `progress(cards)` after each batch."""
    after: uuid.UUID | None = None
    while True:  # ends: each pass starts after the last card id seen
        ids = await _card_ids(session, board_id, after)
        if not ids:
            return
        await rebuild(session, ids)
        after = ids[-1]
        if progress is not None:
            progress(len(ids))


async def _card_ids(session: AsyncSession, board_id: uuid.UUID | None, after: uuid.UUID | None) -> list[uuid.UUID]:
    stmt = select(Card.id).where(Card.deleted_at.is_(None)).order_by(Card.id).limit(BATCH)
    if board_id is not None:
        stmt = stmt.where(Card.board_id == board_id)
    if after is not None:
        stmt = stmt.where(Card.id > after)
    return list((await session.execute(stmt)).scalars())


async def reindex(db: Database, *, board_id: uuid.UUID | None = None,
                  progress: Callable[[int, int], None] | None = None) -> int:
    """Rebuild the index of every card (or one board's) on the writer: BATCH cards per transaction.

    The result equals the index the commands keep; `progress(done, total)` after each batch. Returns the
    number of cards done.
    """
    count = select(func.count()).select_from(Card).where(Card.deleted_at.is_(None))
    if board_id is not None:
        count = count.where(Card.board_id == board_id)
    async with db.read_session(on_writer=True) as session:
        total = int((await session.execute(count)).scalar_one())
    done, after = 0, None
    while True:  # ends: each transaction starts after the last card id seen
        async with db.write_transaction() as session:
            ids = await _card_ids(session, board_id, after)
            await rebuild(session, ids)
        if not ids:
            break
        done, after = done + len(ids), ids[-1]
        if progress is not None:
            progress(done, max(total, done))
    if board_id is None and db.backend == "sqlite":
        async with db.write_transaction() as session:
            for statement in ddl.REFILL_TERMS:
                await session.execute(text(statement))
    return done
