"""How much one board may hold: the caps an import checks, in one place.

They live here until the board and task services enforce them on their own create paths; then
they belong in orbitask.boards (lists, labels, members) and orbitask.tasks (cards), and the
importer reads them from there. Trello's own limits are the guide: 1,000 labels and 3,000
lists per board; cards are capped well above the 50,000-card benchmark (100,000 labels make a
13 MB snapshot for every viewer, so the caps bound what every board read costs).
"""

from __future__ import annotations

MAX_LISTS_PER_BOARD = 3_000
MAX_LABELS_PER_BOARD = 1_000
MAX_CARDS_PER_BOARD = 200_000
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
