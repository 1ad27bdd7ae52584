// Who a board admin may add: people already in the board's workspace. Anyone else joins the workspace
// through an invitation link first (the server refuses to add them directly).
import type { BoardMember, Member } from "../api/client";

/** Workspace members who are not explicit members of the board yet, by name. */
export function addable(workspace: Member[], board: BoardMember[]): Member[] {
  const explicit = new Set(board.filter((m) => m.explicit !== false).map((m) => m.user.id));
  return workspace
    .filter((m) => !explicit.has(m.user.id))
    .sort((a, b) => a.user.name.localeCompare(b.user.name) || a.user.id.localeCompare(b.user.id));
}
