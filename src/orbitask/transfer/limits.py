"""How much one import may hold: its per-file caps, and the per-board caps it checks as it reads.

The per-board caps are the board and task services' own (orbitask.boards.limits, orbitask.tasks.limits),
enforced on every create path: a file past one is refused here while it is read, before anything is
written (422 too-many), and a re-import that would take an existing board past one is refused when it
writes (409 limit-reached).
"""

from __future__ import annotations

from orbitask.boards.limits import MAX_LABELS_PER_BOARD, MAX_LISTS_PER_BOARD
from orbitask.tasks.limits import MAX_CARDS_PER_BOARD

MAX_MEMBERS_PER_IMPORT = 5_000  # each one not matched to a user becomes a placeholder account
MAX_BOARDS_PER_IMPORT = 1_000

# staged kind -> (cap, what it counts); boards and members are counted per file, the rest per board
CAPS = {
    "list": (MAX_LISTS_PER_BOARD, "lists on one board"),
    "label": (MAX_LABELS_PER_BOARD, "labels on one board"),
    "card": (MAX_CARDS_PER_BOARD, "cards on one board"),
    "member": (MAX_MEMBERS_PER_IMPORT, "members"),
    "board": (MAX_BOARDS_PER_IMPORT, "boards"),
}
PER_FILE = frozenset({"member", "board"})
