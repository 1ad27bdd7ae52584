// Search's pure logic: answers that arrive late are dropped, snippets become segments, the results page's state
// lives in the URL, and the palette's keyboard. No DOM and no network here, so the tests run it as is.
import type { SearchHit, SearchQuery } from "../api/search";

/** A piece of a snippet; `match` pieces are shown highlighted. */
export interface Segment {
  text: string;
  match: boolean;
}

export type MatchedKind = "title" | "description" | "comment" | "item" | "attachment";

export type { SearchHit, SearchPage } from "../api/search";

/** Where a hit opens: the card's dialog on its board. */
export function cardPath(hit: Pick<SearchHit, "board" | "card">): string {
  return `/b/${hit.board.id}/c/${hit.card.id}`;
}

const KIND_WORDS: Record<string, string> = {
  title: "title", description: "description", comment: "comment", item: "checklist item", attachment: "attachment",
};

/** Words for where a hit matched ("in a comment"), empty for the title (the title is shown anyway). */
export function matchedWhere(kind: string): string {
  if (kind === "title") return "";
  return `in ${kind === "attachment" ? "an" : "a"} ${KIND_WORDS[kind] ?? kind}`;
}

/** Snippet segments as they are drawn: empty pieces dropped, neighbours of the same kind joined, runs of white space one space. */
export function snippetSegments(segments: readonly Segment[] | null | undefined): Segment[] {
  const out: Segment[] = [];
  for (const s of segments ?? []) {
    const text = s.text.replace(/\s+/g, " ");
    if (!text) continue;
    const last = out[out.length - 1];
    if (last && last.match === !!s.match) last.text += text;
    else out.push({ text, match: !!s.match });
  }
  return out;
}

/** Folded text (accents dropped, case folded) and, for each folded character, the index of its original one. */
export function foldMap(text: string): { folded: string; map: number[] } {
  let folded = "";
  const map: number[] = [];
  let i = 0;
  for (const ch of text) {
    const f = ch.normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase();
    for (let k = 0; k < f.length; k++) map.push(i);
    folded += f;
    i += ch.length;
  }
  return { folded, map };
}

export function fold(text: string): string {
  return foldMap(text).folded;
}

function words(q: string): string[] {
  return [...new Set(fold(q).split(/\s+/).filter(Boolean))];
}

/** `text` cut into segments with every occurrence of a word of `q` marked (accents and case folded). */
export function markMatches(text: string, q: string): Segment[] {
  const { folded, map } = foldMap(text);
  const marked = new Array<boolean>(text.length).fill(false);
  for (const w of words(q)) {
    for (let at = folded.indexOf(w); at >= 0; at = folded.indexOf(w, at + w.length)) {
      const start = map[at];
      const end = at + w.length < map.length ? map[at + w.length] : text.length;
      for (let k = start; k < Math.max(end, start + 1); k++) marked[k] = true;
    }
  }
  const out: Segment[] = [];
  for (let k = 0; k < text.length; k++) {
    const last = out[out.length - 1];
    if (last && last.match === marked[k]) last.text += text[k];
    else out.push({ text: text[k], match: marked[k] });
  }
  return out;
}

/** The boards whose name holds every word of `q`; names that start with the query first, then by name. */
export function matchBoards<B extends { name: string }>(boards: readonly B[], q: string, limit = 5): B[] {
  const ws = words(q);
  if (!ws.length) return [];
  const start = fold(q).trim();
  return boards
    .map((b) => ({ b, name: fold(b.name) }))
    .filter(({ name }) => ws.every((w) => name.includes(w)))
    .sort((x, y) => Number(y.name.startsWith(start)) - Number(x.name.startsWith(start)) || x.b.name.localeCompare(y.b.name))
    .slice(0, limit)
    .map(({ b }) => b);
}

/** The active option after an arrow key: wraps around; nothing to choose → -1. */
export function moveActive(current: number, count: number, delta: number): number {
  if (count <= 0) return -1;
  if (current < 0) return delta > 0 ? 0 : count - 1;
  return (((current + delta) % count) + count) % count;
}

/** What the focused element is, as far as the shortcuts care. */
export interface FocusTarget {
  tagName: string;
  type?: string;
  isContentEditable?: boolean;
}

const NOT_TEXT = new Set(["button", "checkbox", "color", "file", "image", "radio", "range", "reset", "submit"]);

/** Whether keys typed now go into text: `/` must type a slash there, not open the palette. */
export function isTypingTarget(el: FocusTarget | null | undefined): boolean {
  if (!el) return false;
  if (el.isContentEditable) return true;
  const tag = el.tagName.toUpperCase();
  if (tag === "TEXTAREA" || tag === "SELECT") return true;
  return tag === "INPUT" && !NOT_TEXT.has((el.type ?? "text").toLowerCase());
}

export interface KeyLike {
  key: string;
  ctrlKey: boolean;
  metaKey: boolean;
  altKey: boolean;
  shiftKey?: boolean;
  isComposing?: boolean;
}

/** Whether a key press opens the palette: Ctrl-K or Cmd-K anywhere, `/` outside text fields. */
export function opensPalette(e: KeyLike, focus: FocusTarget | null | undefined): boolean {
  if (e.isComposing || e.altKey) return false;
  if ((e.ctrlKey || e.metaKey) && !e.shiftKey && e.key.toLowerCase() === "k") return true;
  return e.key === "/" && !e.ctrlKey && !e.metaKey && !isTypingTarget(focus);
}

export type DueChoice = "" | "overdue" | "soon" | "none" | "any" | "done";
export const DUE_CHOICES: readonly (readonly [DueChoice, string])[] = [
  ["", "Any due state"],
  ["overdue", "Overdue"],
  ["soon", "Due within 7 days"],
  ["none", "No due date"],
  ["any", "Has a due date"],
  ["done", "Completed"],
];

/** The results page's state, kept in its URL so a search can be shared and reloaded. */
export interface SearchState {
  q: string;
  boardId: string;
  due: DueChoice;
  archived: boolean;
  mine: boolean;
}

export const emptySearch: SearchState = { q: "", boardId: "", due: "", archived: false, mine: false };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function parseSearchState(params: URLSearchParams): SearchState {
  const due = params.get("due") ?? "";
  const boardId = params.get("board_id") ?? "";
  return {
    q: params.get("q") ?? "",
    boardId: UUID.test(boardId) ? boardId : "",
    due: (DUE_CHOICES.some(([d]) => d === due) ? due : "") as DueChoice,
    archived: params.get("archived") === "true",
    mine: params.get("mine") === "true",
  };
}

/** The page's URL query: only what differs from the defaults, in a fixed order. */
export function formatSearchState(s: SearchState): URLSearchParams {
  const out = new URLSearchParams();
  if (s.q) out.set("q", s.q);
  if (s.boardId) out.set("board_id", s.boardId);
  if (s.due) out.set("due", s.due);
  if (s.archived) out.set("archived", "true");
  if (s.mine) out.set("mine", "true");
  return out;
}

/** The API's query for a state; "assigned to me" is the member filter with the caller's id. */
export function apiQuery(s: SearchState, opts: { userId?: string | null; cursor?: string | null; limit?: number } = {}): SearchQuery {
  const out: SearchQuery = { q: s.q.trim() };
  if (s.boardId) out.board_id = s.boardId;
  if (s.mine && opts.userId) out.member_id = opts.userId;
  if (s.due) out.due = s.due;
  if (s.archived) out.archived = true;
  if (opts.cursor) out.cursor = opts.cursor;
  if (opts.limit) out.limit = opts.limit;
  return out;
}

export type SearchStatus<R> =
  | { state: "idle" }
  | { state: "loading"; q: string }
  | { state: "done"; q: string; value: R }
  | { state: "failed"; q: string; error: unknown };

export interface Searcher {
  /** Search for `q` once typing pauses; the request before is aborted and its answer dropped. */
  request(q: string): void;
  /** Stop: no pending search, no answer reported. */
  cancel(): void;
}

/**
 * Search as you type: waits `delayMs` after the last keystroke, aborts the request before with its
 * AbortController, and reports only the newest request's answer (an aborted fetch may still resolve).
 */
export function createSearcher<R>(
  run: (q: string, signal: AbortSignal) => Promise<R>,
  report: (status: SearchStatus<R>) => void,
  delayMs = 150,
): Searcher {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let inflight: AbortController | null = null;
  let seq = 0;
  const stop = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    inflight?.abort();
    inflight = null;
    seq++;
  };
  return {
    request(q) {
      stop();
      const query = q.trim();
      if (!query) {
        report({ state: "idle" });
        return;
      }
      report({ state: "loading", q: query });
      const mine = seq;
      timer = setTimeout(() => {
        timer = null;
        const controller = new AbortController();
        inflight = controller;
        const current = () => mine === seq && !controller.signal.aborted;
        run(query, controller.signal).then(
          (value) => current() && report({ state: "done", q: query, value }),
          (error: unknown) => current() && report({ state: "failed", q: query, error }),
        );
      }, delayMs);
    },
    cancel: stop,
  };
}
