"""How many cards one board may hold (lists, labels, members and the check itself: orbitask.boards.limits).

Well above the 50,000-card benchmark board; archived cards count, as they are stored and exported.
"""

from __future__ import annotations

MAX_CARDS_PER_BOARD = 200_000
