"""Pure logic of bench/capacity.py: the weighted request mix, a virtual user's model of its board,
latency summaries and the rule that ends the step-up. No I/O, so tests/unit can check it quickly."""

from __future__ import annotations

import bisect
import itertools
import math
import random
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# The mix: weight per operation (they add up to 100).
MIX: dict[str, int] = {
    "open_board": 25, "create_card": 15, "move_card": 15, "edit_card": 10, "comment": 10, "open_card": 10,
    "list_boards": 5, "toggle_item": 5, "delete_card": 3, "create_board": 2,
}


class Mix:
    """Picks operations at random in proportion to their weights."""

    def __init__(self, weights: dict[str, int]) -> None:
        if not weights or any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise ValueError("weights must be non-negative and not all zero")
        self.names = [name for name, w in weights.items() if w > 0]
        self.cumulative = list(itertools.accumulate(weights[name] for name in self.names))
        self.total = self.cumulative[-1]

    def pick(self, rng: random.Random) -> str:
        """One operation name."""
        return self.names[bisect.bisect_right(self.cumulative, rng.random() * self.total)]


def percentile(values: array | list[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank: the smallest value with at least q % of them at or below it."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = math.ceil(round(q / 100 * len(ordered), 9))  # round: 0.29 * 100 is 28.999999999999996
    return ordered[max(0, min(len(ordered), rank) - 1)]


@dataclass
class Window:
    """The requests that started inside one measurement window."""

    latencies_ms: array = field(default_factory=lambda: array("d"))
    by_op: dict[str, array] = field(default_factory=dict)  # latencies per operation
    errors: Counter = field(default_factory=Counter)  # "status or exception" -> count
    errors_by_op: Counter = field(default_factory=Counter)  # "op status" -> count
    inflight: int = 0  # started in the window, not finished yet

    def add(self, op: str, status: int | str, latency_ms: float) -> None:
        """Record one finished request; statuses >= 400 and exceptions (names) are errors."""
        self.latencies_ms.append(latency_ms)
        if op not in self.by_op:
            self.by_op[op] = array("d")
        self.by_op[op].append(latency_ms)
        if isinstance(status, str) or status >= 400:
            self.errors[str(status)] += 1
            self.errors_by_op[f"{op} {status}"] += 1


def summarize(window: Window, seconds: float) -> dict[str, Any]:
    """Requests/s, latency percentiles and errors of a window that lasted `seconds`."""
    lat = window.latencies_ms
    requests = len(lat)
    errors = sum(window.errors.values())
    return {
        "requests": requests, "rps": round(requests / seconds, 1) if seconds > 0 else 0.0,
        "p50_ms": round(percentile(lat, 50), 2) if requests else None,
        "p95_ms": round(percentile(lat, 95), 2) if requests else None,
        "p99_ms": round(percentile(lat, 99), 2) if requests else None,
        "max_ms": round(max(lat), 2) if requests else None,
        "errors": errors, "error_rate": round(errors / requests, 5) if requests else 0.0,
        "errors_by_type": dict(window.errors.most_common()),
        "errors_by_op": dict(window.errors_by_op.most_common()),
        "by_op": {op: {"requests": len(v), "p50_ms": round(percentile(v, 50), 2), "p99_ms": round(percentile(v, 99), 2)}
                  for op, v in sorted(window.by_op.items())},
    }


def stop_reason(step: dict[str, Any], p99_limit_ms: float, max_error_rate: float) -> str | None:
    """Why the step-up ends after this step, or None to go on."""
    if not step["requests"]:
        return "no request finished in the window"
    if step["p99_ms"] > p99_limit_ms:
        return f"p99 {step['p99_ms']} ms > {p99_limit_ms:g} ms"
    if step["error_rate"] > max_error_rate:
        return f"error rate {step['error_rate']:.2%} > {max_error_rate:.2%}"
    return None


def best_step(steps: list[dict[str, Any]], p99_limit_ms: float) -> dict[str, Any] | None:
    """The step with the most requests/s among those with p99 under the limit and no errors."""
    good = [s for s in steps if s["requests"] and s["p99_ms"] < p99_limit_ms and s["errors"] == 0]
    return max(good, key=lambda s: s["rps"], default=None)


class BoardModel:
    """What one virtual user knows of the board it works on: lists in order, each list's cards in order,
    and checklist items per card with their state. The user is the board's only writer, so the model
    stays exact as long as every write succeeds (on an error the caller reloads it from a snapshot)."""

    def __init__(self, lists: dict[str, list[str]], items: dict[str, dict[str, bool]] | None = None) -> None:
        self.lists = {list_id: list(cards) for list_id, cards in lists.items()}
        self.list_of = {card: list_id for list_id, cards in self.lists.items() for card in cards}
        self.items = {card: dict(v) for card, v in (items or {}).items() if card in self.list_of}

    @classmethod
    def from_snapshot(cls, snapshot: dict[str, Any], items: dict[str, dict[str, bool]]) -> BoardModel:
        """From a board snapshot (GET /boards/{id}): unarchived lists and cards by position."""
        lists = sorted((lst for lst in snapshot["lists"] if not lst["archived"]), key=lambda x: (x["position"], x["id"]))
        cards: dict[str, list[tuple[str, str]]] = {lst["id"]: [] for lst in lists}
        for card in snapshot["cards"]:
            if not card.get("archived") and card["list_id"] in cards:
                cards[card["list_id"]].append((card["position"], card["id"]))
        return cls({lid: [cid for _, cid in sorted(c)] for lid, c in cards.items()}, items)

    @property
    def card_count(self) -> int:
        return len(self.list_of)

    def random_card(self, rng: random.Random) -> str | None:
        """Any card of the board (None when it has none)."""
        if not self.list_of:
            return None
        list_id = rng.choice([lid for lid, cards in self.lists.items() if cards])
        return rng.choice(self.lists[list_id])

    def create_target(self, rng: random.Random) -> tuple[str, str | None]:
        """Where a new card goes, as the web app adds one: a list and its last card (None: empty list)."""
        list_id = rng.choice(list(self.lists))
        cards = self.lists[list_id]
        return list_id, cards[-1] if cards else None

    def created(self, list_id: str, card_id: str) -> None:
        self.lists[list_id].append(card_id)
        self.list_of[card_id] = list_id

    def move_target(self, rng: random.Random, card_id: str) -> tuple[str, int, str | None, str | None]:
        """A real place to drop `card_id`: (list, index among the other cards, after_id, before_id)."""
        list_id = rng.choice(list(self.lists))
        others = [c for c in self.lists[list_id] if c != card_id]
        index = rng.randrange(len(others) + 1)
        after = others[index - 1] if index > 0 else None
        before = others[index] if index < len(others) else None
        return list_id, index, after, before

    def moved(self, card_id: str, list_id: str, index: int) -> None:
        self.lists[self.list_of[card_id]].remove(card_id)
        self.lists[list_id].insert(index, card_id)
        self.list_of[card_id] = list_id

    def deleted(self, card_id: str) -> None:
        self.lists[self.list_of.pop(card_id)].remove(card_id)
        self.items.pop(card_id, None)

    def random_item(self, rng: random.Random) -> tuple[str, str, bool] | None:
        """(card, item, done) of a checklist item on the board, or None when there is none."""
        cards = [c for c, items in self.items.items() if items]
        if not cards:
            return None
        card = rng.choice(cards)
        item = rng.choice(list(self.items[card]))
        return card, item, self.items[card][item]

    def toggled(self, card_id: str, item_id: str, done: bool) -> None:
        self.items[card_id][item_id] = done
