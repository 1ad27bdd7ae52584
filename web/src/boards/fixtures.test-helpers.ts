// Builders for state tests.
import type { BoardEvent, BoardSnapshot, Card, List } from "../api/client";

let n = 0;
const when = "2026-11-25T00:00:00Z";

export function list(id: string, position: string, extra: Partial<List> = {}): List {
  return { id, board_id: "b", name: id, position, archived: false, created_at: when, updated_at: when, ...extra };
}

export function card(id: string, listId: string, position: string, extra: Partial<Card> = {}): Card {
  return {
    id, board_id: "b", list_id: listId, title: id, description: "", position, start_at: null, due_at: null,
    completed: false, archived: false, created_by: null, created_at: when, updated_at: when,
    assignee_ids: [], label_ids: [], watcher_ids: [], checklist_total: 0, checklist_done: 0, comment_count: 0,
    ...extra,
  };
}

export function snapshot(version: number, lists: List[], cards: Card[]): BoardSnapshot {
  return {
    board: {
      id: "b", workspace_id: "w", name: "Board", description: "", color: "blue", visibility: "workspace",
      archived: false, version, created_at: when, updated_at: when,
    },
    version, role: "admin", lists, cards, labels: [], members: [],
  };
}

export function event(version: number, type: string, payload: Record<string, unknown>, cardId: string | null = null): BoardEvent {
  n += 1;
  return {
    id: `e${n}`, seq: n, type, workspace_id: "w", board_id: "b", board_version: version, card_id: cardId,
    actor_id: "u", payload, region: "local", created_at: when,
  };
}
