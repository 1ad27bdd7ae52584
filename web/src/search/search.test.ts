import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  apiQuery, createSearcher, emptySearch, formatSearchState, isTypingTarget, markMatches, matchBoards, matchedWhere,
  moveActive, opensPalette, parseSearchState, snippetSegments, type SearchStatus,
} from "./search";

const BOARD = "0b5e3b9e-4a8e-4d0a-9a37-9d1c6c1f2a10";

describe("search as you type", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  /** A search whose requests the test answers by hand, in any order. */
  function harness() {
    const calls: { q: string; signal: AbortSignal; answer: (v: string) => void; fail: (e: unknown) => void }[] = [];
    const seen: SearchStatus<string>[] = [];
    const searcher = createSearcher<string>(
      (q, signal) => new Promise((answer, fail) => calls.push({ q, signal, answer, fail })),
      (s) => seen.push(s),
      150,
    );
    return { calls, seen, searcher, last: () => seen[seen.length - 1] };
  }

  it("sends one request once typing pauses", async () => {
    const { calls, searcher, last } = harness();
    for (const q of ["o", "or", "orb"]) {
      searcher.request(q);
      await vi.advanceTimersByTimeAsync(100);
    }
    expect(calls).toHaveLength(0);
    expect(last()).toEqual({ state: "loading", q: "orb" });
    await vi.advanceTimersByTimeAsync(150);
    expect(calls.map((c) => c.q)).toEqual(["orb"]);
    calls[0].answer("hits for orb");
    await vi.advanceTimersByTimeAsync(0);
    expect(last()).toEqual({ state: "done", q: "orb", value: "hits for orb" });
  });

  it("aborts the request before and drops its late answer", async () => {
    const { calls, seen, searcher, last } = harness();
    searcher.request("alpha");
    await vi.advanceTimersByTimeAsync(150);
    searcher.request("beta");
    expect(calls[0].signal.aborted).toBe(true);
    await vi.advanceTimersByTimeAsync(150);
    calls[1].answer("beta hits");
    calls[0].answer("alpha hits"); // the stale answer arrives last
    calls[0].fail(new Error("late failure"));
    await vi.advanceTimersByTimeAsync(0);
    expect(last()).toEqual({ state: "done", q: "beta", value: "beta hits" });
    expect(seen.some((s) => s.state === "done" && s.value === "alpha hits")).toBe(false);
  });

  it("reports a failure of the newest request, and nothing for an empty query or after cancel", async () => {
    const { calls, searcher, last } = harness();
    searcher.request("gamma");
    await vi.advanceTimersByTimeAsync(150);
    const problem = new Error("The query is invalid.");
    calls[0].fail(problem);
    await vi.advanceTimersByTimeAsync(0);
    expect(last()).toEqual({ state: "failed", q: "gamma", error: problem });

    searcher.request("   ");
    expect(last()).toEqual({ state: "idle" });
    await vi.advanceTimersByTimeAsync(500);
    expect(calls).toHaveLength(1);

    searcher.request("delta");
    await vi.advanceTimersByTimeAsync(150);
    searcher.cancel();
    expect(calls[1].signal.aborted).toBe(true);
    calls[1].answer("too late");
    await vi.advanceTimersByTimeAsync(0);
    expect(last()).toEqual({ state: "loading", q: "delta" });
  });
});

describe("snippet segments", () => {
  it("drops empty pieces, joins neighbours and flattens line breaks", () => {
    expect(snippetSegments([
      { text: "…", match: false }, { text: "the ", match: false }, { text: "", match: true },
      { text: "Orbit", match: true }, { text: "al", match: true }, { text: "\n\nplan", match: false },
    ])).toEqual([{ text: "…the ", match: false }, { text: "Orbital", match: true }, { text: " plan", match: false }]);
    expect(snippetSegments(undefined)).toEqual([]);
  });

  it("keeps markup as text for the renderer to put in text nodes", () => {
    expect(snippetSegments([{ text: "<img src=x onerror=alert(1)>", match: true }])).toEqual([
      { text: "<img src=x onerror=alert(1)>", match: true },
    ]);
  });

  it("marks board-name matches with accents and case folded, on the original characters", () => {
    expect(markMatches("Café Roadmap", "cafe road")).toEqual([
      { text: "Café", match: true }, { text: " ", match: false }, { text: "Road", match: true }, { text: "map", match: false },
    ]);
    expect(markMatches("ÉTÉ", "e")).toEqual([
      { text: "É", match: true }, { text: "T", match: false }, { text: "É", match: true },
    ]);
    expect(markMatches("Plain", "")).toEqual([{ text: "Plain", match: false }]);
  });

  it("says where a hit matched", () => {
    expect(matchedWhere("title")).toBe("");
    expect(matchedWhere("comment")).toBe("in a comment");
    expect(matchedWhere("item")).toBe("in a checklist item");
    expect(matchedWhere("attachment")).toBe("in an attachment");
  });
});

describe("boards in the palette", () => {
  const boards = [{ name: "Marketing" }, { name: "Über Roadshow" }, { name: "A road trip" }, { name: "Road map" }, { name: "Sales" }];

  it("keeps names holding every word, those starting with the query first", () => {
    expect(matchBoards(boards, "road").map((b) => b.name)).toEqual(["Road map", "A road trip", "Über Roadshow"]);
    expect(matchBoards(boards, "uber road").map((b) => b.name)).toEqual(["Über Roadshow"]);
    expect(matchBoards(boards, "  ")).toEqual([]);
    expect(matchBoards(boards, "a", 2)).toHaveLength(2);
  });
});

describe("results page URL", () => {
  it("round-trips its state and leaves defaults out", () => {
    const state = { q: "launch “plan”", boardId: BOARD, due: "overdue" as const, archived: true, mine: true };
    const query = formatSearchState(state);
    expect(query.toString()).toBe(`q=launch+%E2%80%9Cplan%E2%80%9D&board_id=${BOARD}&due=overdue&archived=true&mine=true`);
    expect(parseSearchState(new URLSearchParams(query.toString()))).toEqual(state);
    expect(formatSearchState({ ...emptySearch, q: "x" }).toString()).toBe("q=x");
  });

  it("ignores what it does not know", () => {
    expect(parseSearchState(new URLSearchParams("q=a&board_id=nope&due=someday&archived=1&mine=yes"))).toEqual({
      ...emptySearch, q: "a",
    });
  });

  it("asks the API with the caller as member for “assigned to me”, and passes the cursor", () => {
    const state = { ...emptySearch, q: " word ", boardId: BOARD, mine: true, due: "soon" as const };
    expect(apiQuery(state, { userId: "u1", cursor: "c2", limit: 25 })).toEqual(
      { q: "word", board_id: BOARD, member_id: "u1", due: "soon", cursor: "c2", limit: 25 },
    );
    expect(apiQuery({ ...emptySearch, q: "x", archived: true })).toEqual({ q: "x", archived: true });
  });
});

describe("palette keyboard", () => {
  const key = (k: string, mods: Partial<{ ctrlKey: boolean; metaKey: boolean; altKey: boolean }> = {}) => ({
    key: k, ctrlKey: false, metaKey: false, altKey: false, ...mods,
  });

  it("opens with Ctrl-K or Cmd-K anywhere and with / outside text fields", () => {
    const input = { tagName: "INPUT", type: "text" };
    expect(opensPalette(key("k", { ctrlKey: true }), input)).toBe(true);
    expect(opensPalette(key("K", { metaKey: true }), null)).toBe(true);
    expect(opensPalette(key("/"), { tagName: "BUTTON" })).toBe(true);
    expect(opensPalette(key("/"), { tagName: "INPUT", type: "checkbox" })).toBe(true);
    expect(opensPalette(key("/"), input)).toBe(false);
    expect(opensPalette(key("/"), { tagName: "TEXTAREA" })).toBe(false);
    expect(opensPalette(key("/"), { tagName: "DIV", isContentEditable: true })).toBe(false);
    expect(opensPalette(key("k"), null)).toBe(false);
    expect(opensPalette(key("k", { ctrlKey: true, altKey: true }), null)).toBe(false);
  });

  it("knows text fields", () => {
    expect(isTypingTarget({ tagName: "input" })).toBe(true);
    expect(isTypingTarget({ tagName: "INPUT", type: "search" })).toBe(true);
    expect(isTypingTarget({ tagName: "INPUT", type: "submit" })).toBe(false);
    expect(isTypingTarget({ tagName: "A" })).toBe(false);
    expect(isTypingTarget(null)).toBe(false);
  });

  it("moves the active option with wrap-around", () => {
    expect(moveActive(-1, 3, 1)).toBe(0);
    expect(moveActive(-1, 3, -1)).toBe(2);
    expect(moveActive(2, 3, 1)).toBe(0);
    expect(moveActive(0, 3, -1)).toBe(2);
    expect(moveActive(0, 0, 1)).toBe(-1);
  });
});
