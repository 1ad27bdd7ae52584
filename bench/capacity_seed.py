"""Seed data for bench/capacity.py, written in-process before the server starts.

Like Vikunja's benchmark: N users, each with a personal workspace of B boards of C cards. Users are
registered through the service layer (a personal workspace each); boards, lists, labels, cards and
checklists go in through the bulk path imports use (orbitask.boards.bulk, orbitask.tasks.bulk), one
transaction per user, so 48,000 cards take seconds rather than the ~10 ms of server CPU each would
cost through the API.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass
from typing import Any

from fractional_indexing import generate_n_keys_between

from orbitask.auth import service as auth
from orbitask.auth import workspaces
from orbitask.auth.policy import Actor
from orbitask.auth.schemas import RegisterIn
from orbitask.boards import bulk as boards_bulk
from orbitask.config import Settings
from orbitask.core.ids import new_id
from orbitask.core.runtime import Runtime
from orbitask.tasks import bulk as tasks_bulk

PASSWORD = "capacity-bench-password"
LIST_NAMES = ("Backlog", "To do", "In progress", "Done")
LABELS = (("Bug", "red"), ("Feature", "green"), ("Chore", "gray"), ("Urgent", "orange"))
COLORS = ("blue", "green", "purple", "orange", "sky", "pink")
DESCRIPTION = "Some *markdown*: what to do, why, and a [link](https://example.com/spec). " * 3
ITEMS_PER_CHECKLIST = 4


@dataclass
class SeededBoard:
    """A board as seeded: list ids in order with their cards in order, checklist items per card."""

    id: str
    lists: dict[str, list[str]]
    items: dict[str, dict[str, bool]]


@dataclass
class SeededUser:
    email: str
    workspace_id: str
    boards: list[SeededBoard]


def _board_rows(rng: random.Random, user_id: uuid.UUID, index: int, cards: int, now: dt.datetime) -> dict[str, Any]:
    """Rows of one board: lists, labels, cards (a third with due dates, every other with a checklist)."""
    lists = [{"id": new_id(), "name": name, "position": pos, "archived": False}
             for name, pos in zip(LIST_NAMES, generate_n_keys_between(None, None, len(LIST_NAMES)), strict=True)]
    labels = [{"id": new_id(), "name": name, "color": color} for name, color in LABELS]
    per_list: list[list[uuid.UUID]] = [[] for _ in lists]
    for n in range(cards):
        per_list[n % len(lists)].append(new_id())
    card_rows, relations, checklists, items = [], {"labels": [], "watchers": [], "assignees": []}, [], []
    seeded_items: dict[str, dict[str, bool]] = {}
    for lst, ids in zip(lists, per_list, strict=True):
        for card_id, pos in zip(ids, generate_n_keys_between(None, None, len(ids)), strict=True):
            n = len(card_rows)
            card_rows.append({
                "id": card_id, "list_id": lst["id"], "title": f"Card {n} of board {index}",
                "description": DESCRIPTION if n % 2 == 0 else "", "position": pos, "start_at": None,
                "due_at": now + dt.timedelta(days=rng.randint(-10, 30)) if n % 3 == 0 else None,
                "completed": lst["name"] == "Done", "archived": False, "created_by": user_id,
            })
            relations["watchers"].append((card_id, user_id))  # the API makes a card's creator watch it
            if n % 4 == 0:
                relations["assignees"].append((card_id, user_id))
            if n % 3 == 1:
                relations["labels"].append((card_id, rng.choice(labels)["id"]))
            if n % 2 == 0:
                checklist_id = new_id()
                checklists.append({"id": checklist_id, "card_id": card_id, "title": "Steps", "position": "a0"})
                done = {}
                for k, item_pos in enumerate(generate_n_keys_between(None, None, ITEMS_PER_CHECKLIST)):
                    item_id = new_id()
                    done[str(item_id)] = k < 2 and rng.random() < 0.5
                    items.append({"id": item_id, "checklist_id": checklist_id, "card_id": card_id,
                                  "text": f"Step {k + 1}", "position": item_pos, "done": done[str(item_id)],
                                  "assignee_id": None, "due_at": None})
                seeded_items[str(card_id)] = done
    return {
        "fields": {"name": f"Board {index + 1}", "description": "Seeded by bench/capacity.py",
                   "color": COLORS[index % len(COLORS)], "visibility": "workspace", "archived": False},
        "lists": lists, "labels": labels, "cards": card_rows, "relations": relations, "checklists": checklists,
        "items": items,
        "model": {str(lst["id"]): [str(c) for c in ids] for lst, ids in zip(lists, per_list, strict=True)},
        "seeded_items": seeded_items,
    }


async def _user(rt: Runtime, n: int, boards: int, cards: int, run: str, rng: random.Random) -> SeededUser:
    email = f"capacity-{run}-{n:04d}@example.com"
    issued = await auth.register(rt.uow(), rt, RegisterIn(email=email, password=PASSWORD, name=f"Capacity user {n}"))
    actor = Actor(issued.user.id)
    async with rt.db.read_session(on_writer=True) as session:
        owned, _ = await workspaces.list_workspaces(session, actor, cursor=None, limit=1)
    workspace_id = owned[0].id
    now = dt.datetime.now(dt.UTC)
    seeded = []
    async with rt.uow(actor.user_id) as uow:
        session = uow.session
        for index in range(boards):
            rows = _board_rows(rng, actor.user_id, index, cards, now)
            board = await boards_bulk.create_board(uow, actor, workspace_id, rows["fields"])
            await boards_bulk.write_lists(session, board.id, rows["lists"], [])
            await boards_bulk.write_labels(session, board.id, rows["labels"], [])
            await tasks_bulk.write_cards(session, board.id, rows["cards"], [], rows["relations"])
            await tasks_bulk.write_checklists(session, rows["checklists"], [])
            await tasks_bulk.write_items(session, rows["items"], [])
            seeded.append(SeededBoard(str(board.id), rows["model"], rows["seeded_items"]))
        await uow.commit()
    return SeededUser(email, str(workspace_id), seeded)


async def seed(settings: Settings, users: int, boards: int, cards: int, seed_value: int = 1) -> list[SeededUser]:
    """Register `users` users and give each `boards` boards of `cards` cards; returns what the load needs."""
    rt = Runtime.from_settings(settings)
    rng = random.Random(seed_value)
    run = f"{rng.randrange(16**6):06x}"
    try:
        return [await _user(rt, n, boards, cards, run, rng) for n in range(users)]
    finally:
        await rt.close()
