"""Searching cards the caller can read: each backend's own full-text index, ranked, filtered, paged."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import bindparam, case, column, func, literal_column, or_, select, table
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.auth.policy import Actor
from orbitask.boards import lists as board_lists
from orbitask.boards import service as boards
from orbitask.boards.models import Board, BoardList
from orbitask.core.db import utcnow
from orbitask.core.errors import InvalidInput, NotFound
from orbitask.core.pagination import DEFAULT_LIMIT
from orbitask.core.prepared import Prepared
from orbitask.search import ddl, syntax
from orbitask.search.models import SearchEntry
from orbitask.search.schemas import Due, SearchBoard, SearchHit, SearchList, SearchPage, SnippetSegment
from orbitask.search.text import Query, highlight, parse_query
from orbitask.tasks import service as tasks
from orbitask.tasks.models import Card, CardAssignee, CardLabel

MAX_DEPTH = 1000  # hits a search pages through at most: past that, refine the query
MAX_CANDIDATES = 200  # matching entries ranked at most per search: the newest (see _candidates)
SOON = dt.timedelta(days=7)
MAX_RELEVANCE = 1e6
MAX_EXPANSION = 64  # words a long prefix is spelled out as on SQLite; a prefix starting more is left to FTS5
SHORT = 16  # SQLite's score: WEIGHT / (SHORT + characters), so an entry mostly made of the query ranks first
WEIGHTS = {"title": 4, "item": 2, "attachment": 2, "description": 1, "comment": 1}
ENTRY = SearchEntry.__table__
_FTS = table(ddl.FTS_TABLE, literal_column("rowid"))
_FTS_COLUMN = literal_column(ddl.FTS_TABLE)  # FTS5 names its hidden column after the table: `search_fts MATCH ?`
_SIMPLE = literal_column("'simple'::regconfig")  # a constant, as in the index's expression (ddl.TSVECTOR)
_TERMS = table(ddl.TERM_TABLE, column("term"))
_WORDS = Prepared(select(_TERMS.c.term).where(_TERMS.c.term >= bindparam("low"), _TERMS.c.term < bindparam("high"))
                  .order_by(_TERMS.c.term).limit(MAX_EXPANSION + 1))


@dataclass(frozen=True, slots=True)
class Filters:
    """What narrows a search besides its words."""

    board_id: uuid.UUID | None = None
    list_id: uuid.UUID | None = None
    label_id: uuid.UUID | None = None
    member_id: uuid.UUID | None = None
    due: Due | None = None
    archived: bool = False


def _fingerprint(q: str, filters: Filters) -> str:
    """What a cursor is bound to: the query and its filters (a cursor of another search is refused)."""
    described = repr((q, sorted((k, str(v)) for k, v in asdict(filters).items())))
    return hashlib.sha256(described.encode()).hexdigest()[:16]


def encode_cursor(offset: int, fingerprint: str) -> str:
    """An opaque cursor: how many hits were seen, for this search."""
    return base64.urlsafe_b64encode(f"{offset}:{fingerprint}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, fingerprint: str) -> int:
    """The offset a cursor of this search stands for (0 without one); a clear 422 for any other."""
    if not cursor:
        return 0
    try:
        offset, _, bound = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition(":")
        valid = offset.isdigit() and 0 < int(offset) < MAX_DEPTH and bound == fingerprint
    except (ValueError, binascii.Error):
        valid = False
    if not valid:
        raise InvalidInput("cursor is not a cursor this search returned (was the query or a filter changed?)")
    return int(offset)


async def expand_prefixes(session: AsyncSession, query: Query) -> dict[str, list[str]]:
    """SQLite: the indexed words each long prefix of `query` starts, where they are at most MAX_EXPANSION.

    FTS5 reads a prefix longer than its prefix indexes by merging the postings of every word it starts before
    returning one row (50 ms for a word on a million cards); spelled out as those words, the match streams
    newest first and stops at the candidates it needs."""
    found: dict[str, list[str]] = {}
    for term in query.terms:
        prefix = syntax.expandable(term)
        if prefix is None or prefix in found:
            continue
        following = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        words = [row.term for row in await _WORDS.all(session, {"low": prefix, "high": following})]
        if len(words) <= MAX_EXPANSION:
            found[prefix] = words
    return found


def _match(dialect: str) -> tuple[Any, Any, Any]:
    """The entries' FROM, the full-text condition on `:fts` and its score (higher is better), per backend."""
    wanted = bindparam("fts")
    if dialect == "sqlite":
        # Not FTS5's bm25: its word weights count every posting of each query word, a full pass over a common
        # word's postings per search. All words must match anyway: the shorter the entry, the better.
        score = literal_column("1.0") / (SHORT + func.length(ENTRY.c.terms))
        return ENTRY.join(_FTS, _FTS.c.rowid == ENTRY.c.id), _FTS_COLUMN.op("MATCH")(wanted), score
    if dialect == "postgresql":
        vector = func.to_tsvector(_SIMPLE, ENTRY.c.terms)
        tsquery = func.to_tsquery(_SIMPLE, wanted)
        return ENTRY, vector.op("@@")(tsquery), func.ts_rank(vector, tsquery)
    relevance = mysql.match(ENTRY.c.terms, against=wanted).in_boolean_mode()
    # InnoDB's relevance goes to infinity when its document count lags deletions: a product with it would fail
    return ENTRY, relevance, func.least(func.greatest(relevance, 0), MAX_RELEVANCE)


def _fts(dialect: str, query: Query, words: dict[str, list[str]], filters: Filters) -> str:
    """The `:fts` parameter: the query in the backend's full-text syntax."""
    if dialect == "sqlite":
        return syntax.fts5(query, words, board_id=filters.board_id)
    return syntax.tsquery(query) if dialect == "postgresql" else syntax.boolean_mode(query)


def _narrowed(filters: Filters) -> list[Any]:
    """The filters as conditions on the card, its list and its board (values bound at execution: _params)."""
    conditions: list[Any] = []
    if filters.board_id is not None:
        conditions.append(Card.board_id == bindparam("board_id"))
    if filters.list_id is not None:
        conditions.append(Card.list_id == bindparam("list_id"))
    if filters.label_id is not None:
        conditions.append(Card.id.in_(select(CardLabel.card_id).where(CardLabel.label_id == bindparam("label_id"))))
    if filters.member_id is not None:
        conditions.append(Card.id.in_(select(CardAssignee.card_id).where(CardAssignee.user_id == bindparam("member_id"))))
    # an archived list or board hides its cards as archiving the card itself does
    hidden = or_(Card.archived.is_(True), BoardList.archived.is_(True), Board.archived.is_(True))
    conditions.append(hidden if filters.archived else ~hidden)
    now, soon, open_ = bindparam("now"), bindparam("soon"), Card.completed.is_(False)
    due = {
        "overdue": [Card.due_at < now, open_],
        "soon": [Card.due_at >= now, Card.due_at < soon, open_],
        "none": [Card.due_at.is_(None)],
        "any": [Card.due_at.is_not(None)],
        "done": [Card.completed.is_(True)],
        None: [],
    }
    conditions.extend(due[filters.due])
    return conditions


def _params(fts: str, actor: Actor, filters: Filters, *, offset: int, limit: int) -> dict[str, Any]:
    """The values of a page statement's parameters."""
    now = utcnow()
    return {"fts": fts, "user_id": actor.user_id, "board_id": filters.board_id, "list_id": filters.list_id,
            "label_id": filters.label_id, "member_id": filters.member_id, "now": now, "soon": now + SOON,
            "offset": offset, "limit": limit}


async def _require_readable(session: AsyncSession, actor: Actor, filters: Filters) -> None:
    """A filter naming a board, list or label the caller cannot read answers 404, as everywhere."""
    if filters.board_id is not None:
        await boards.board_stamp(session, actor, filters.board_id)
    for what, ref, board_of in (("list", filters.list_id, board_lists.list_board_id),
                                ("label", filters.label_id, board_lists.label_board_id)):
        if ref is None:
            continue
        board_id = await board_of(session, ref)
        if board_id is None:
            raise NotFound(f"No such {what}.")
        await boards.board_stamp(session, actor, board_id, what)


def _board_of(dialect: str) -> Any:
    """The card's board, as the readable-boards condition names it. On SQLite a unary + keeps the planner from
    walking the card table by board (every card of every readable board) instead of starting from the matches."""
    return literal_column(f"+{Card.__tablename__}.board_id") if dialect == "sqlite" else Card.board_id


def _candidates(dialect: str, filters: Filters) -> Any:
    """Matching entries on boards the caller reads, with their score x their kind's weight: the newest
    MAX_CANDIDATES of them, so a word found a million times costs what a rare one does (such a word's hits
    are ranked among its newest matches; refining the query finds older ones)."""
    source, matches, score = _match(dialect)
    weighted = score * case(WEIGHTS, value=ENTRY.c.kind, else_=1)
    newest = _FTS.c.rowid.desc() if dialect == "sqlite" else ENTRY.c.id.desc()  # FTS5 walks its rowids backwards
    readable = boards.readable_board_ids(bindparam("user_id", type_=Board.id.type))  # type: ignore[arg-type]
    return (
        select(ENTRY.c.id, ENTRY.c.card_id, ENTRY.c.kind, weighted.label("score"))
        .select_from(source.join(Card, Card.id == ENTRY.c.card_id).join(BoardList, BoardList.id == Card.list_id)
                     .join(Board, Board.id == Card.board_id))
        .where(matches, _board_of(dialect).in_(readable), *_narrowed(filters))
        .order_by(newest)
        .limit(MAX_CANDIDATES)
        .subquery("candidates")
    )


def _best_per_card(candidates: Any) -> Any:
    """A page of cards, best first (ties by card id), each with its best entry (then by kind and entry id), with
    the entry's text, list and board."""
    nth = func.row_number().over(partition_by=candidates.c.card_id,
                                 order_by=(candidates.c.score.desc(), candidates.c.kind, candidates.c.id))
    ranked = select(candidates, nth.label("nth")).subquery("ranked")
    return (
        select(ranked.c.id, ranked.c.card_id, ranked.c.kind, ENTRY.c.body, Board.id.label("board_id"),
               Board.name.label("board_name"), Board.workspace_id, BoardList.id.label("list_id"),
               BoardList.name.label("list_name"))
        .select_from(ranked.join(ENTRY, ENTRY.c.id == ranked.c.id).join(Card, Card.id == ranked.c.card_id)
                     .join(BoardList, BoardList.id == Card.list_id).join(Board, Board.id == Card.board_id))
        .where(ranked.c.nth == 1)
        .order_by(ranked.c.score.desc(), ranked.c.card_id)
        .offset(bindparam("offset")).limit(bindparam("limit"))
    )


_PAGES: dict[tuple[Any, ...], Prepared] = {}


def _page_statement(dialect: str, filters: Filters) -> Prepared:
    """The page statement for this backend and this combination of filters, built and compiled once."""
    key = (dialect, filters.board_id is not None, filters.list_id is not None, filters.label_id is not None,
           filters.member_id is not None, filters.due, filters.archived)
    if (statement := _PAGES.get(key)) is None:
        statement = _PAGES[key] = Prepared(_best_per_card(_candidates(dialect, filters)))
    return statement


async def search(
    session: AsyncSession, actor: Actor, *, q: str, board_id: uuid.UUID | None = None,
    list_id: uuid.UUID | None = None, label_id: uuid.UUID | None = None, member_id: uuid.UUID | None = None,
    due: Due | None = None, archived: bool = False, cursor: str | None = None, limit: int = DEFAULT_LIMIT,
) -> SearchPage:
    """Cards the caller can read whose text matches `q`, best first, one hit per card, with a marked snippet."""
    query = parse_query(q)
    filters = Filters(board_id, list_id, label_id, member_id, due, archived)
    fingerprint = _fingerprint(q, filters)
    offset = decode_cursor(cursor, fingerprint)
    await _require_readable(session, actor, filters)
    limit = min(limit, MAX_DEPTH - offset)
    dialect = session.get_bind().dialect.name
    words = await expand_prefixes(session, query) if dialect == "sqlite" else {}
    params = _params(_fts(dialect, query, words, filters), actor, filters, offset=offset, limit=limit + 1)
    page = await _page_statement(dialect, filters).all(session, params)
    more = len(page) > limit and offset + limit < MAX_DEPTH
    page = page[:limit]
    cards = {c.id: c for c in await tasks.cards_by_id(session, [r.card_id for r in page])}
    items = [
        SearchHit(
            card=cards[r.card_id], board=SearchBoard(id=r.board_id, name=r.board_name, workspace_id=r.workspace_id),
            list=SearchList(id=r.list_id, name=r.list_name), matched=r.kind,
            snippet=[SnippetSegment(text=s.text, match=s.match) for s in highlight(r.body, query)],
        )
        for r in page if r.card_id in cards  # (deleted in between: left out)
    ]
    return SearchPage(items=items, next_cursor=encode_cursor(offset + limit, fingerprint) if more else None)
