"""Who may do what: one table, pure functions. Unseen resources answer 404, not 403."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from orbitask.core.errors import Forbidden, NotFound

WorkspaceRole = Literal["owner", "admin", "member", "guest"]
BoardRole = Literal["admin", "editor", "commenter", "viewer"]

WORKSPACE_RANK: dict[str, int] = {"guest": 1, "member": 2, "admin": 3, "owner": 4}
BOARD_RANK: dict[str, int] = {"viewer": 1, "commenter": 2, "editor": 3, "admin": 4}

# action -> the least role that may perform it
WORKSPACE_ACTIONS: dict[str, str] = {
    "workspace.read": "guest",
    "board.create": "member",
    "workspace.update": "admin",
    "member.manage": "admin",
    "invitation.create": "admin",
    "webhook.manage": "admin",
    "audit.read": "admin",
    "workspace.delete": "owner",
}
BOARD_ACTIONS: dict[str, str] = {
    "board.read": "viewer",
    "card.comment": "commenter",
    "board.write": "editor",
    "board.admin": "admin",
}


@dataclass(frozen=True, slots=True)
class Actor:
    """The authenticated caller."""

    user_id: uuid.UUID
    via: Literal["bearer", "api_token", "cookie"] = "bearer"


@dataclass(frozen=True, slots=True)
class BoardAccess:
    """What decides a caller's role on a board."""

    workspace_role: str | None
    board_role: str | None
    visibility: str


def effective_board_role(access: BoardAccess) -> str | None:
    """The caller's role on a board: explicit membership, or what the workspace role implies."""
    implied: str | None = None
    if access.workspace_role == "owner":
        implied = "admin"
    elif access.visibility == "workspace" and access.workspace_role == "admin":
        implied = "admin"
    elif access.visibility == "workspace" and access.workspace_role == "member":
        implied = "editor"
    if access.workspace_role is None:
        return None  # left the workspace: no board access either
    roles = [r for r in (access.board_role, implied) if r is not None]
    return max(roles, key=BOARD_RANK.__getitem__) if roles else None


def can_workspace(role: str | None, action: str) -> bool:
    """Whether a workspace role allows `action`."""
    return role is not None and WORKSPACE_RANK[role] >= WORKSPACE_RANK[WORKSPACE_ACTIONS[action]]


def can_board(role: str | None, action: str) -> bool:
    """Whether a board role allows `action`."""
    return role is not None and BOARD_RANK[role] >= BOARD_RANK[BOARD_ACTIONS[action]]


def require_workspace(role: str | None, action: str, what: str = "workspace") -> None:
    """Raise NotFound for outsiders and Forbidden for members without the right role."""
    if role is None:
        raise NotFound(f"No such {what}.")
    if not can_workspace(role, action):
        raise Forbidden(f"Your role ({role}) in this workspace does not allow {action}.")


def require_board(role: str | None, action: str, what: str = "board") -> None:
    """Raise NotFound when the board is out of reach and Forbidden when the role is too low."""
    if role is None:
        raise NotFound(f"No such {what}.")
    if not can_board(role, action):
        raise Forbidden(f"Your role ({role}) on this board does not allow {action}.")
