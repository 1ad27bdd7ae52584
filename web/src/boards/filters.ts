// Board filters: by label, member, due state and text. Pure, so the view and the tests share it.
import type { Card } from "../api/client";

export type DueState = "done" | "overdue" | "soon" | "later";
export type DueFilter = "" | "overdue" | "soon" | "none" | "done";

const SOON_MS = 24 * 3600 * 1000;

/** The due badge of a card at `now`: done, overdue, due within a day, or later; null without a due date. */
export function dueState(card: Pick<Card, "due_at" | "completed">, now: number = Date.now()): DueState | null {
  if (!card.due_at) return null;
  if (card.completed) return "done";
  const due = Date.parse(card.due_at);
  if (due < now) return "overdue";
  return due - now <= SOON_MS ? "soon" : "later";
}

export interface Filters {
  text: string;
  labelId: string;
  memberId: string;
  due: DueFilter;
}

export const noFilters: Filters = { text: "", labelId: "", memberId: "", due: "" };

export function isFiltering(f: Filters): boolean {
  return !!(f.text.trim() || f.labelId || f.memberId || f.due);
}

/** Whether a card passes every active filter. */
export function matches(card: Card, f: Filters, now: number = Date.now()): boolean {
  const text = f.text.trim().toLowerCase();
  if (text && !card.title.toLowerCase().includes(text) && !card.description.toLowerCase().includes(text))
    return false;
  if (f.labelId && !(card.label_ids ?? []).includes(f.labelId)) return false;
  if (f.memberId && !(card.assignee_ids ?? []).includes(f.memberId)) return false;
  if (f.due) {
    const state = dueState(card, now);
    if (f.due === "none" ? state !== null : state !== f.due) return false;
  }
  return true;
}

/** Filters as URL query parameters, so a filtered board can be shared. */
export function filtersToQuery(f: Filters): URLSearchParams {
  const q = new URLSearchParams();
  if (f.text) q.set("q", f.text);
  if (f.labelId) q.set("label", f.labelId);
  if (f.memberId) q.set("member", f.memberId);
  if (f.due) q.set("due", f.due);
  return q;
}

export function filtersFromQuery(q: URLSearchParams): Filters {
  const due = q.get("due") ?? "";
  return {
    text: q.get("q") ?? "",
    labelId: q.get("label") ?? "",
    memberId: q.get("member") ?? "",
    due: (["overdue", "soon", "none", "done"].includes(due) ? due : "") as DueFilter,
  };
}
