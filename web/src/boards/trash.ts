// The board's trash and archive (issue 25): listing them, and restoring cards and lists.
// Typed here until the generated schema (api/schema.d.ts) has these routes.
import type { Card, List } from "../api/client";
import { unwrap } from "../api/client";
import { apiFetch } from "../api/http";

export interface TrashItem {
  kind: "card" | "list";
  id: string;
  name: string;
  list_id: string | null;
  list_name: string | null;
  /** A card's list is in the trash too: restore the list first. */
  list_in_trash: boolean;
  deleted_at: string;
  deleted_by: { id: string; name: string; email: string } | null;
}

export interface ArchivedItem {
  kind: "card" | "list";
  id: string;
  name: string;
  list_id: string | null;
  list_name: string | null;
  list_archived: boolean;
  updated_at: string;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

async function call<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const init: RequestInit = { method, signal, credentials: "same-origin" };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { "Content-Type": "application/json" };
  }
  return unwrap(
    apiFetch(new Request(path, init)).then(async (response) => {
      const json = response.status === 204 ? undefined : await response.json().catch(() => undefined);
      return response.ok ? { data: json as T, response } : { error: json ?? {}, response };
    }),
  );
}

function query(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const text = q.toString();
  return text ? `?${text}` : "";
}

export function boardTrash(boardId: string, q: string, cursor: string | null, signal?: AbortSignal): Promise<Page<TrashItem>> {
  return call("GET", `/api/v1/boards/${boardId}/trash${query({ q, cursor: cursor ?? undefined })}`, undefined, signal);
}

export function boardArchive(boardId: string, q: string, cursor: string | null, signal?: AbortSignal): Promise<Page<ArchivedItem>> {
  return call("GET", `/api/v1/boards/${boardId}/archive${query({ q, cursor: cursor ?? undefined })}`, undefined, signal);
}

export function restoreCard(cardId: string): Promise<Card> {
  return call("POST", `/api/v1/cards/${cardId}/restore`);
}

export function restoreList(listId: string): Promise<List> {
  return call("POST", `/api/v1/lists/${listId}/restore`);
}

export function deleteList(listId: string): Promise<void> {
  return call("DELETE", `/api/v1/lists/${listId}`);
}
