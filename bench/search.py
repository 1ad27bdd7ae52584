"""Search benchmark: a million cards, query latency per backend.

    .venv/bin/python bench/search.py [--backends sqlite,mariadb,postgresql] [--cards 1000000] [--boards 200]
                                     [--queries 2000] [--warmup 100] [--concurrency 8] [--edits 500]
                                     [--keep DIR] [--out bench/results/search.json]

Per backend (SQLite, the embedded default; MariaDB 10.11 + Redis; PostgreSQL + Redis, thrown away after)
the script seeds, in-process and through the bulk path imports use (Core inserts of thousands of rows per
statement), one user owning a workspace of --boards boards holding --cards cards, and a second user in a
workspace of their own. Text comes from a Zipf-distributed vocabulary of 50,000 synthetic words (fixed
seed): titles of 3-8 words, descriptions of 1-40 words on half the cards, a comment on 20 % of the cards,
a checklist on 10 %, and Japanese/Chinese text on 5 %. `orbitask search reindex` then builds the index
(timed), the statistics are refreshed as after any bulk load (ANALYZE on MariaDB/PostgreSQL; the embedded
default runs none), and a real `orbitask serve --workers 2` answers a query mix at concurrency 8: single
words of Zipf rank 100-5000, two words of a real title (AND), 3-4 letter prefixes, a quoted phrase from a
real title, a CJK word, and a word within one board. Printed per query kind and overall: p50/p95/p99,
requests/s, errors, hits; server (and database) CPU per query; the index's size; the second user's hits
for the first user's words and the other way round (the leak check, must be 0); then --edits title edits
and --edits comments through the API, one at a time on one connection, with the mean/p99 of
`orbitask_search_index_seconds` from the /metrics of the worker that served them, and the edit latency.
--keep DIR keeps each backend's scratch directory; a kept SQLite database is reused by the next run (no seed,
no reindex). Target: p99 < 50 ms on the embedded default (PASS/FAIL).

Everything goes to 127.0.0.1; every loop is bounded by a count and every wait by a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import logging
import math
import random
import resource
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import orjson
import psutil
from fractional_indexing import generate_n_keys_between
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from api import throwaway_database  # noqa: E402
from capacity import run_loop, server_env  # noqa: E402
from capacity_mix import Window, summarize  # noqa: E402
from capacity_seed import LIST_NAMES, PASSWORD  # noqa: E402
from procs import cpu_seconds, orbitask_env, server_processes, workdir, write_result  # noqa: E402

from tests.servers import orbitask_server  # noqa: E402

BACKENDS = ("sqlite", "mariadb", "postgresql")
SECRET = "bench-search-" + "s" * 40
VOCABULARY, ZIPF_S, SEED = 50_000, 1.0, 27
CONSONANTS, VOWELS = "bdfgklmnprstvz", "aeiou"  # no q, x, y: the second user's words start with "qu"
CJK_WORDS = ("東京", "京都", "大阪", "会議", "資料", "検索", "開発", "設計", "予定", "確認", "项目", "计划",
             "测试", "服务器", "数据库", "用户", "界面", "タスク", "ボード", "カード", "チーム", "レビュー")
QUERY_KINDS = ("word", "and", "prefix", "phrase", "cjk", "board")
PAGE = "25"  # hits per query, as the web app's results page asks (its palette asks 8)
SAMPLES = 5_000  # real titles and card ids kept from the seed for queries and edits
REQUEST_TIMEOUT_S, REINDEX_TIMEOUT_S = 30.0, 4 * 3600.0
P99_TARGET_MS = 50.0
console = Console(width=160)


# -- text ----------------------------------------------------------------------------------------


class Words:
    """A synthetic vocabulary in Zipf rank order, and texts drawn from it."""

    def __init__(self, rng: random.Random, size: int = VOCABULARY, prefix: str = "") -> None:
        syllables = [c + v for c in CONSONANTS for v in VOWELS]
        found: dict[str, None] = {}
        while len(found) < size:  # bounded: 70**2 + 70**3 + 70**4 distinct words exist
            found[prefix + "".join(rng.choices(syllables, k=rng.randint(2, 4)))] = None
        self.ranked = list(found)
        self.cumulative = list(itertools.accumulate(1 / r**ZIPF_S for r in range(1, size + 1)))

    def text(self, rng: random.Random, count: int) -> str:
        """`count` words drawn by Zipf's law."""
        return " ".join(rng.choices(self.ranked, cum_weights=self.cumulative, k=count))

    def title(self, rng: random.Random) -> str:
        return self.text(rng, rng.randint(3, 8)).capitalize()


def cjk_text(rng: random.Random, words: Words) -> str:
    """A few CJK words run together, then some latin ones, as mixed-language titles are written."""
    return "".join(rng.choices(CJK_WORDS, k=rng.randint(2, 4))) + " " + words.text(rng, rng.randint(1, 3))


# -- seed ----------------------------------------------------------------------------------------


@dataclass
class Seeded:
    """What the queries and edits need from the seed."""

    owner: str
    other: str
    board_ids: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    card_ids: list[str] = field(default_factory=list)
    other_words: list[str] = field(default_factory=list)
    words: Words | None = None  # the owner's vocabulary


def _board_rows(rng: random.Random, words: Words, user_id: uuid.UUID, cards: int, *, keep: float, seeded: Seeded,
                cjk_share: float = 0.05) -> dict[str, list[dict[str, Any]]]:
    """Lists, cards, comments, checklists and items of one board, with text from `words`."""
    from orbitask.core.ids import new_id

    lists = [{"id": new_id(), "name": name, "position": pos, "archived": False}
             for name, pos in zip(LIST_NAMES, generate_n_keys_between(None, None, len(LIST_NAMES)), strict=True)]
    rows: dict[str, list[dict[str, Any]]] = {"lists": lists, "cards": [], "comments": [], "checklists": [],
                                             "items": []}
    for n, lst in enumerate(lists):
        share = cards // len(lists) + (n < cards % len(lists))
        for pos in generate_n_keys_between(None, None, share) if share else []:
            card_id, cjk = new_id(), rng.random() < cjk_share
            title = cjk_text(rng, words) if cjk else words.title(rng)
            described = rng.random() < 0.5
            description = (cjk_text(rng, words) if cjk else words.text(rng, rng.randint(1, 40))) if described else ""
            rows["cards"].append({"id": card_id, "list_id": lst["id"], "title": title, "description": description,
                                  "position": pos, "start_at": None, "due_at": None, "completed": False,
                                  "archived": False, "created_by": user_id})
            if rng.random() < 0.2:
                rows["comments"].append({"id": new_id(), "card_id": card_id, "author_id": user_id,
                                         "body": words.text(rng, rng.randint(3, 30)), "edited_at": None})
            if rng.random() < 0.1:
                checklist_id = new_id()
                rows["checklists"].append({"id": checklist_id, "card_id": card_id, "title": "Steps",
                                           "position": "a0"})
                for item_pos in generate_n_keys_between(None, None, rng.randint(2, 5)):
                    rows["items"].append({"id": new_id(), "checklist_id": checklist_id, "card_id": card_id,
                                          "text": words.text(rng, rng.randint(2, 6)), "position": item_pos,
                                          "done": False, "assignee_id": None, "due_at": None})
            if rng.random() < keep:
                seeded.card_ids.append(str(card_id))
                if not cjk:
                    seeded.titles.append(title)
    return rows


async def _account(rt: Any, email: str, name: str) -> tuple[Any, uuid.UUID]:
    """Register a user (a personal workspace comes with the account); their actor and workspace id."""
    from orbitask.auth import service as auth
    from orbitask.auth import workspaces
    from orbitask.auth.policy import Actor
    from orbitask.auth.schemas import RegisterIn

    issued = await auth.register(rt.uow(), rt, RegisterIn(email=email, password=PASSWORD, name=name))
    actor = Actor(issued.user.id)
    async with rt.db.read_session(on_writer=True) as session:
        owned, _ = await workspaces.list_workspaces(session, actor, cursor=None, limit=1)
    return actor, owned[0].id


async def _board(rt: Any, actor: Any, workspace_id: uuid.UUID, name: str, rows: dict[str, list[dict[str, Any]]]) -> str:
    """One board and everything on it through the bulk path, in one transaction."""
    from orbitask.boards import bulk as boards_bulk
    from orbitask.tasks import bulk as tasks_bulk

    fields = {"name": name, "description": "Seeded by bench/search.py", "color": "blue", "visibility": "workspace",
              "archived": False}
    async with rt.uow(actor.user_id) as uow:
        board = await boards_bulk.create_board(uow, actor, workspace_id, fields)
        await boards_bulk.write_lists(uow.session, board.id, rows["lists"], [])
        await tasks_bulk.write_cards(uow.session, board.id, rows["cards"], [], {})
        await tasks_bulk.write_comments(uow.session, rows["comments"], [], [])
        await tasks_bulk.write_checklists(uow.session, rows["checklists"], [])
        await tasks_bulk.write_items(uow.session, rows["items"], [])
        await uow.commit()
    return str(board.id)


async def seed(settings: Any, *, cards: int, boards: int) -> Seeded:
    """The owner's boards of cards and the other user's small board of words nobody else uses."""
    from orbitask.core.runtime import Runtime

    rng = random.Random(SEED)
    words, other_words = Words(rng), Words(rng, size=2_000, prefix="qu")
    run = uuid.uuid4().hex[:8]
    seeded = Seeded(owner=f"search-owner-{run}@example.com", other=f"search-other-{run}@example.com", words=words,
                    other_words=other_words.ranked[:200])
    keep = min(1.0, SAMPLES / max(cards, 1))
    rt = Runtime.from_settings(settings)
    try:
        owner, owner_ws = await _account(rt, seeded.owner, "Search owner")
        other, other_ws = await _account(rt, seeded.other, "Search other")
        done, started = 0, time.perf_counter()
        for b in range(boards):
            share = cards // boards + (b < cards % boards)
            rows = _board_rows(rng, words, owner.user_id, share, keep=keep, seeded=seeded)
            seeded.board_ids.append(await _board(rt, owner, owner_ws, f"Board {b + 1}", rows))
            done += share
            if b % max(1, boards // 10) == 0 or b == boards - 1:
                console.print(f"  seeded {done:,} cards ({done / (time.perf_counter() - started):,.0f} cards/s)")
        # no CJK there: the other user must find nothing of the owner's words, CJK ones included
        rows = _board_rows(rng, other_words, other.user_id, 200, keep=0.0, seeded=Seeded("", ""), cjk_share=0.0)
        await _board(rt, other, other_ws, "Other", rows)
    finally:
        await rt.close()
    return seeded


# -- databases -----------------------------------------------------------------------------------


async def _sql(url: str, statements: list[str], *, autocommit: bool = False) -> list[list[Any]]:
    """Run statements on the database; the rows of each."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            if autocommit:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            out = []
            for statement in statements:
                result = await conn.execute(text(statement))
                out.append([tuple(r) for r in result.all()] if result.returns_rows else [])
            await conn.commit()
            return out
    finally:
        await engine.dispose()


SEEDED_TABLES = "workspace, board, board_list, card, comment, checklist, checklist_item, search_entry"


def refresh_statistics(backend: str, url: str) -> None:
    """What autovacuum / InnoDB would do within a minute of a bulk load; SQLite's planner gets none in production."""
    if backend == "postgresql":
        asyncio.run(_sql(url, ["ANALYZE"], autocommit=True))
    elif backend == "mariadb":
        asyncio.run(_sql(url, [f"ANALYZE TABLE {SEEDED_TABLES}"]))


def index_size(backend: str, url: str) -> dict[str, int]:
    """Bytes of the search index: FTS structures and the search_entry table (with its indexes)."""
    if backend == "sqlite":
        names = asyncio.run(_sql(url, ["SELECT name FROM sqlite_master WHERE tbl_name LIKE 'search%' AND rootpage > 0"]))
        sizes = asyncio.run(_sql(url, [f"SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name = '{n}'"
                                       for (n,) in names[0]]))
        by_name = {n: int(s[0][0]) for (n,), s in zip(names[0], sizes, strict=True)}
        fts = sum(v for k, v in by_name.items() if k.startswith("search_fts"))
        return {"fts_bytes": fts, "entry_bytes": sum(by_name.values()) - fts, "total_bytes": sum(by_name.values()),
                "tables": by_name}
    if backend == "mariadb":
        table, ids = asyncio.run(_sql(url, [
            "SELECT data_length + index_length FROM information_schema.TABLES WHERE table_schema = DATABASE() "
            "AND table_name = 'search_entry'",
            "SELECT table_id, DATABASE() FROM information_schema.INNODB_SYS_TABLES "
            "WHERE name = CONCAT(DATABASE(), '/search_entry')"]))
        table_id, db = ids[0]
        (files,) = asyncio.run(_sql(url, [
            f"SELECT name, file_size FROM information_schema.INNODB_SYS_TABLESPACES WHERE name = '{db}/search_entry' "
            f"OR name LIKE '{db}/FTS\\_{table_id:016x}\\_%'"]))
        fts = sum(int(s) for n, s in files if "/FTS_" in n)
        return {"fts_bytes": fts, "entry_bytes": int(table[0][0]), "total_bytes": fts + int(table[0][0]),
                "tablespace_files_bytes": sum(int(s) for _, s in files), "fts_tables": len(files) - 1}
    (row,) = asyncio.run(_sql(url, [
        "SELECT pg_total_relation_size('search_entry'), (SELECT COALESCE(SUM(pg_relation_size(i.indexrelid)), 0) "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
        "WHERE i.indrelid = 'search_entry'::regclass AND a.amname = 'gin')"]))
    total, gin = (int(v) for v in row[0])
    return {"fts_bytes": gin, "entry_bytes": total - gin, "total_bytes": total}


def database_cpu_seconds(port: int | None) -> float:
    """CPU so far of the database listening on this port: it, its children, and its children that ended
    (PostgreSQL's backends come and go with connections; the kernel adds the ended ones to the postmaster)."""
    for conn in psutil.net_connections(kind="tcp") if port else []:
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc = psutil.Process(conn.pid)
                ended = proc.cpu_times()
                return cpu_seconds([proc, *proc.children(recursive=True)]) + ended.children_user + ended.children_system
    return 0.0


@dataclass
class Setup:
    """A seeded, indexed backend behind a running server."""

    backend: str
    url: str  # the server's
    database_url: str
    data_dir: Path
    seeded: Seeded
    figures: dict[str, Any]

    def database_cpu(self) -> float:
        from sqlalchemy.engine import make_url

        return 0.0 if self.backend == "sqlite" else database_cpu_seconds(make_url(self.database_url).port)


@contextlib.contextmanager
def backend_setup(backend: str, args: argparse.Namespace) -> Iterator[Setup]:
    """Database (+ Redis), seed, reindex, then `orbitask serve` on it until the block ends."""
    from orbitask.config import Settings
    from orbitask.core.migrate import upgrade
    from tests.redisserver import RedisServer

    keep = args.keep / backend if args.keep else None
    with workdir(keep, f"orbitask-bench-search-{backend}-") as work, contextlib.ExitStack() as stack:
        data_dir = (work / "data").resolve()
        env: dict[str, str] = {}
        if backend == "sqlite":
            settings = Settings(data_dir=data_dir, argon2_time_cost=1, argon2_memory_cost=64)
        else:
            logging.getLogger("asyncmy").setLevel(logging.ERROR)  # MariaDB's notes on primary key names
            database_url = stack.enter_context(throwaway_database(backend))
            redis = RedisServer(work / "redis").start()
            stack.callback(redis.stop)
            env = {"ORBITASK_DATABASE_URL": database_url, "ORBITASK_REDIS_URL": redis.url,
                   "ORBITASK_SECRET_KEY": SECRET}
            settings = Settings(data_dir=data_dir, database_url=database_url, redis_url=redis.url,
                                secret_key=SECRET, argon2_time_cost=1, argon2_memory_cost=64)
        state = work / "seeded.json"
        if backend == "sqlite" and state.exists():  # a kept SQLite database, seeded and indexed by an earlier run
            saved = json.loads(state.read_text())
            if (saved["cards"], saved["boards"]) != (args.cards, args.boards):
                raise SystemExit(f"{work} holds {saved['cards']:,} cards on {saved['boards']} boards: "
                                 f"give those, or another --keep directory")
            seeded, figures = Seeded(**saved["seeded"], words=Words(random.Random(SEED))), saved["figures"]
            console.print(f"[bold]{backend}[/bold]: the seeded and indexed database kept in {work}")
        else:
            upgrade(settings.writer_url)
            seeded, figures = build(backend, settings, env, args)
            if keep is not None:
                state.write_text(json.dumps({"cards": args.cards, "boards": args.boards, "figures": figures,
                                             "seeded": {k: v for k, v in vars(seeded).items() if k != "words"}}))
        serve_env = server_env({**env, "ORBITASK_RATE_LIMIT_API_PER_MINUTE": "0"})  # one user drives it all
        with orbitask_server(data_dir, "--workers", str(args.workers), "--no-migrate", env=serve_env) as url:
            yield Setup(backend, url, settings.writer_url, data_dir, seeded, figures)


def build(backend: str, settings: Any, env: dict[str, str], args: argparse.Namespace) -> tuple[Seeded, dict[str, Any]]:
    """Seed, reindex and refresh the statistics; the seed and the figures of all three."""
    console.print(f"[bold]{backend}[/bold]: seeding {args.cards:,} cards on {args.boards} boards ...")
    started = time.perf_counter()
    seeded = asyncio.run(seed(settings, cards=args.cards, boards=args.boards))
    seed_s = time.perf_counter() - started
    figures: dict[str, Any] = {"seed_seconds": round(seed_s, 1), "seed_cards_per_s": round(args.cards / seed_s)}
    figures.update(reindex(backend, settings.data_dir.resolve(), settings.writer_url, env, args.cards))
    refresh_statistics(backend, settings.writer_url)
    figures["index_size"] = index_size(backend, settings.writer_url)
    return seeded, figures


def reindex(backend: str, data_dir: Path, database_url: str, env: dict[str, str], cards: int) -> dict[str, Any]:
    """`orbitask search reindex` over everything: wall time, cards/s, its CPU and the database's."""
    from sqlalchemy.engine import make_url

    port = None if backend == "sqlite" else make_url(database_url).port
    db_before, child_before = database_cpu_seconds(port), resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with open(data_dir / "reindex.log", "wb") as log:
        done = subprocess.run([sys.executable, "-m", "orbitask.cli", "search", "reindex"], stdout=log,
                              stderr=subprocess.STDOUT, env=orbitask_env(data_dir, **env), timeout=REINDEX_TIMEOUT_S)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"orbitask search reindex exited with {done.returncode}: "
                           f"{(data_dir / 'reindex.log').read_text()[-3000:]}")
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = child.ru_utime + child.ru_stime - child_before.ru_utime - child_before.ru_stime
    db_cpu = database_cpu_seconds(port) - db_before
    console.print(f"  reindexed {cards:,} cards in {seconds:.1f} s: [bold]{cards / seconds:,.0f} cards/s[/bold] "
                  f"(CLI CPU {cpu:.1f} s, database CPU {db_cpu:.1f} s)")
    return {"reindex_seconds": round(seconds, 1), "reindex_cards_per_s": round(cards / seconds),
            "reindex_cpu_seconds": round(cpu, 1), "reindex_db_cpu_seconds": round(db_cpu, 1)}


# -- load ----------------------------------------------------------------------------------------


@dataclass
class Request:
    kind: str
    method: str
    path: str
    params: dict[str, str] | None = None
    body: dict[str, Any] | None = None


@dataclass
class Outcome:
    """Latencies and statuses per kind and overall, hits per kind, and how long it all took."""

    windows: dict[str, Window] = field(default_factory=lambda: defaultdict(Window))
    overall: Window = field(default_factory=Window)
    hits: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """summarize() per kind and overall, with hits (mean per query, share of queries with any)."""
        out = {}
        for kind, window in [*sorted(self.windows.items()), ("overall", self.overall)]:
            s = summarize(window, self.seconds)
            hits = list(itertools.chain(*self.hits.values())) if kind == "overall" else self.hits.get(kind, [])
            out[kind] = {k: s[k] for k in ("requests", "rps", "p50_ms", "p95_ms", "p99_ms", "max_ms", "errors",
                                           "errors_by_type")}
            if hits:
                out[kind].update(mean_hits=round(sum(hits) / len(hits), 1),
                                 with_hits_pct=round(100 * sum(h > 0 for h in hits) / len(hits), 1))
        return out


def client(base: str, headers: dict[str, str], connections: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(base_url=base, connector=aiohttp.TCPConnector(limit=connections), headers=headers,
                                 timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S))


async def send(http: aiohttp.ClientSession, pending: Iterator[Request], outcome: Outcome) -> None:
    """Send requests one after the other until `pending` runs out; search answers' hits are counted."""
    for r in pending:  # one iterator shared by concurrent senders: each request is sent once
        started = time.perf_counter()
        body, status = b"", None
        try:
            async with http.request(r.method, r.path, params=r.params, json=r.body) as answer:
                body, status = await answer.read(), answer.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            status = type(exc).__name__
        ms = (time.perf_counter() - started) * 1000
        outcome.windows[r.kind].add(r.kind, status, ms)
        outcome.overall.add(r.kind, status, ms)
        if status == 200 and r.path.endswith("/search"):
            outcome.hits[r.kind].append(len(orjson.loads(body)["items"]))


async def drive(base: str, headers: dict[str, str], requests: list[Request], concurrency: int) -> Outcome:
    """Send the requests from `concurrency` keep-alive connections."""
    outcome, pending = Outcome(), iter(requests)
    async with client(base, headers, concurrency) as http:
        started = time.perf_counter()
        await asyncio.gather(*[send(http, pending, outcome) for _ in range(concurrency)])
        outcome.seconds = time.perf_counter() - started
    return outcome


def search_requests(rng: random.Random, seeded: Seeded, count: int) -> list[Request]:
    """`count` queries, the kinds in turn (shuffled), each drawn from the seeded text."""
    words = seeded.words

    def query(kind: str) -> dict[str, str]:
        title = rng.choice(seeded.titles).lower().split()
        if kind == "word":
            return {"q": words.ranked[rng.randint(100, 5000)]}
        if kind == "and":
            return {"q": " ".join(rng.sample(title, 2) if len(set(title)) > 1 else title)}
        if kind == "prefix":
            return {"q": words.ranked[rng.randint(100, 5000)][:rng.randint(3, 4)]}
        if kind == "phrase":
            start = rng.randint(0, len(title) - 2)
            return {"q": '"' + " ".join(title[start:start + rng.randint(2, 3)]) + '"'}
        if kind == "cjk":
            return {"q": rng.choice(CJK_WORDS)}
        return {"q": words.ranked[rng.randint(100, 5000)], "board_id": rng.choice(seeded.board_ids)}

    kinds = [QUERY_KINDS[n % len(QUERY_KINDS)] for n in range(count)]
    rng.shuffle(kinds)
    return [Request(kind, "GET", "/api/v1/search", params={**query(kind), "limit": PAGE}) for kind in kinds]


async def sign_in(base: str, email: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT_S) as http:
        r = await http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        r.raise_for_status()
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def queries(setup: Setup, args: argparse.Namespace) -> dict[str, Any]:
    """Warm-up, then the measured query mix with server (and database) CPU; then the leak check."""
    rng, seeded = random.Random(SEED + 1), setup.seeded
    owner, other = await sign_in(setup.url, seeded.owner), await sign_in(setup.url, seeded.other)
    await drive(setup.url, owner, search_requests(rng, seeded, args.warmup), args.concurrency)
    server = server_processes(setup.data_dir)
    before = (cpu_seconds(server), setup.database_cpu(), time.process_time())
    outcome = await drive(setup.url, owner, search_requests(rng, seeded, args.queries), args.concurrency)
    after = (cpu_seconds(server), setup.database_cpu(), time.process_time())
    server_s, db_s, gen_s = (b - a for a, b in zip(before, after, strict=True))
    n = len(outcome.overall.latencies_ms)
    # the leak check: the other user asks for the owner's words (a foreign board filter must be a 404) ...
    probes = search_requests(rng, seeded, 300)
    foreign = await drive(setup.url, other, probes, args.concurrency)
    # ... and the owner for the other user's words
    theirs = [Request("theirs", "GET", "/api/v1/search", params={"q": w}) for w in seeded.other_words[:100]]
    mine = await drive(setup.url, owner, theirs, args.concurrency)
    leaked = sum(itertools.chain(*foreign.hits.values(), *mine.hits.values()))
    refused = {k: dict(w.errors) for k, w in [*foreign.windows.items(), *mine.windows.items()] if w.errors}
    leak_ok = leaked == 0 and set(refused) <= {"board"} and all(set(e) == {"404"} for e in refused.values())
    return {"kinds": outcome.summary(), "seconds": round(outcome.seconds, 2),
            "server_cpu_ms_per_query": round(server_s / n * 1000, 2), "db_cpu_ms_per_query": round(db_s / n * 1000, 2),
            "generator_cpu_ms_per_query": round(gen_s / n * 1000, 2),
            "leak_check": {"hits": leaked, "probes": len(probes) + len(theirs), "errors": refused, "ok": leak_ok}}


# -- write overhead ------------------------------------------------------------------------------


async def index_histogram(http: aiohttp.ClientSession) -> tuple[dict[float, float], float, float]:
    """orbitask_search_index_seconds (buckets, sum, count) of the worker behind this keep-alive connection."""
    async with http.get("/metrics") as r:
        text = await r.text()
    buckets: dict[float, float] = defaultdict(float)
    total = count = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples if family.name == "orbitask_search_index_seconds" else []:
            if s.name.endswith("_bucket"):
                buckets[float(s.labels["le"])] += s.value
            elif s.name.endswith("_sum"):
                total += s.value
            elif s.name.endswith("_count"):
                count += s.value
    return dict(buckets), total, count


def bucket_quantile(buckets: dict[float, float], q: float) -> float | None:
    """Like PromQL's histogram_quantile: linear within the bucket that holds the q-th observation."""
    if not buckets or not buckets.get(math.inf):
        return None
    rank, low, below = q * buckets[math.inf], 0.0, 0.0
    for bound in sorted(buckets):
        if buckets[bound] >= rank:
            if bound == math.inf:
                return low
            return low + (bound - low) * (rank - below) / max(buckets[bound] - below, 1e-12)
        low, below = bound, buckets[bound]
    return None


async def writes(setup: Setup, args: argparse.Namespace) -> dict[str, Any]:
    """--edits title edits and --edits comments, one at a time; the index hook's time from /metrics."""
    rng, seeded = random.Random(SEED + 2), setup.seeded
    words = seeded.words
    owner = await sign_in(setup.url, seeded.owner)
    cards = rng.sample(seeded.card_ids, min(args.edits, len(seeded.card_ids)))
    requests = [Request("title_edit", "PATCH", f"/api/v1/cards/{c}", body={"title": f"{words.title(rng)} edit{n:04d}x"})
                for n, c in enumerate(cards)]
    requests += [Request("comment", "POST", f"/api/v1/cards/{c}/comments", body={"body": words.text(rng, 12)})
                 for c in rng.sample(seeded.card_ids, min(args.edits, len(seeded.card_ids)))]
    # one connection, so one worker, serves the writes and both scrapes (each worker has its own /metrics)
    outcome = Outcome()
    async with client(setup.url, owner, 1) as http:
        before = await index_histogram(http)
        started = time.perf_counter()
        await send(http, iter(requests), outcome)
        outcome.seconds = time.perf_counter() - started
        after = await index_histogram(http)
    buckets = {bound: v - before[0].get(bound, 0.0) for bound, v in after[0].items()}
    total, count = after[1] - before[1], after[2] - before[2]
    found = await drive(setup.url, owner, [Request("findable", "GET", "/api/v1/search", params={"q": f"edit{n:04d}x"})
                                           for n in range(min(20, len(cards)))], 1)
    p99 = bucket_quantile(buckets, 0.99)
    return {"edits": outcome.summary(), "index_hook_count": int(count), "writes": len(requests),
            "index_hook_mean_ms": round(total / count * 1000, 3) if count else None,
            "index_hook_p99_ms": round(p99 * 1000, 3) if p99 is not None else None,
            "edits_findable": sum(h == 1 for h in found.hits["findable"]), "edits_checked": min(20, len(cards))}


# -- report --------------------------------------------------------------------------------------


def report(r: dict[str, Any]) -> None:
    table = Table(title=f"Orbitask search, {r['backend']}, {r['cards']:,} cards on {r['boards']} boards, "
                        f"{r['concurrency']} concurrent, {r['date']}")
    for column in ("kind", "queries", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors", "mean hits",
                   "% with hits"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    for kind, s in r["queries"]["kinds"].items():
        table.add_row(kind, str(s["requests"]), str(s["rps"]), str(s["p50_ms"]), str(s["p95_ms"]), str(s["p99_ms"]),
                      str(s["max_ms"]), str(s["errors"] or 0), str(s.get("mean_hits")), str(s.get("with_hits_pct")))
    console.print(table)
    q, w, size = r["queries"], r["writes"], r["index_size"]
    console.print(f"  CPU per query: server {q['server_cpu_ms_per_query']} ms, database {q['db_cpu_ms_per_query']} ms, "
                  f"load generator {q['generator_cpu_ms_per_query']} ms")
    console.print(f"  index size: {size['total_bytes'] / 2**20:,.1f} MiB (full-text structures "
                  f"{size['fts_bytes'] / 2**20:,.1f} MiB, search_entry {size['entry_bytes'] / 2**20:,.1f} MiB), "
                  f"{size['total_bytes'] / r['cards']:,.0f} bytes/card")
    console.print(f"  seed {r['seed_seconds']} s ({r['seed_cards_per_s']:,} cards/s); reindex {r['reindex_seconds']} s "
                  f"({r['reindex_cards_per_s']:,} cards/s)")
    leak = q["leak_check"]
    console.print(f"  leak check: {leak['hits']} hits in {leak['probes']} cross-user queries, refusals "
                  f"{leak['errors'] or 'none'}: {'[green]OK[/green]' if leak['ok'] else '[red]LEAK[/red]'}")
    for kind, s in w["edits"].items():
        if kind != "overall":
            console.print(f"  {kind}: p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms, errors {s['errors']}")
    console.print(f"  orbitask_search_index_seconds over {w['index_hook_count']} of {w['writes']} writes: "
                  f"mean {w['index_hook_mean_ms']} ms, p99 ~{w['index_hook_p99_ms']} ms (from buckets); "
                  f"edits findable {w['edits_findable']}/{w['edits_checked']}")
    p99 = q["kinds"]["overall"]["p99_ms"]
    if r["backend"] == "sqlite":
        verdict = "[green]PASS[/green]" if p99 is not None and p99 < P99_TARGET_MS and not q["kinds"]["overall"][
            "errors"] else "[red]FAIL[/red]"
        console.print(f"  [bold]overall p99 {p99} ms against < {P99_TARGET_MS:g} ms on the embedded default: "
                      f"{verdict}[/bold]")


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    with backend_setup(backend, args) as setup:
        console.print(f"  serving at {setup.url}; {args.warmup} warm-up + {args.queries} queries at concurrency "
                      f"{args.concurrency}")
        result = {"backend": backend, "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                  "cards": args.cards, "boards": args.boards, "concurrency": args.concurrency,
                  "workers": args.workers, **setup.figures}
        result["queries"] = run_loop(queries(setup, args))
        result["writes"] = run_loop(writes(setup, args))
    report(result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated, of " + ", ".join(BACKENDS))
    parser.add_argument("--cards", type=int, default=1_000_000)
    parser.add_argument("--boards", type=int, default=200)
    parser.add_argument("--queries", type=int, default=2000, help="measured queries per backend")
    parser.add_argument("--warmup", type=int, default=100, help="queries before measuring")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--edits", type=int, default=500, help="title edits, and as many comments, through the API")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (2 for 2 cores)")
    parser.add_argument("--keep", type=Path, default=None, help="keep each backend's scratch directory under DIR")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "search.json")
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not backends or set(backends) - set(BACKENDS):
        parser.error(f"--backends: a comma-separated subset of {', '.join(BACKENDS)}")
    if args.cards < args.boards or args.boards < 1 or args.queries < 1 or args.concurrency < 1 or args.edits < 1:
        parser.error("need --cards >= --boards >= 1 and positive --queries, --concurrency and --edits")
    doc: dict[str, Any] = {}
    if args.out.exists():  # other backends' earlier results stay
        with contextlib.suppress(ValueError):
            doc = json.loads(args.out.read_text())
    results = dict(doc.get("backends", {}))
    for backend in backends:
        results[backend] = {**run_backend(backend, args), "command": " ".join(sys.argv)}
        write_result(args.out, {"benchmark": "search", "p99_target_ms": P99_TARGET_MS, "backends": results})


if __name__ == "__main__":
    main()
