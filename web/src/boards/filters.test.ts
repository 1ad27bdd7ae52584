import { describe, expect, it } from "vitest";
import { dueState, filtersFromQuery, filtersToQuery, matches, noFilters } from "./filters";
import { card } from "./fixtures.test-helpers";

const now = Date.parse("2026-11-25T12:00:00Z");

describe("due badge", () => {
  it("tells done, overdue, soon and later", () => {
    expect(dueState({ due_at: null, completed: false }, now)).toBeNull();
    expect(dueState({ due_at: "2026-11-24T12:00:00Z", completed: true }, now)).toBe("done");
    expect(dueState({ due_at: "2026-11-24T12:00:00Z", completed: false }, now)).toBe("overdue");
    expect(dueState({ due_at: "2026-11-25T20:00:00Z", completed: false }, now)).toBe("soon");
    expect(dueState({ due_at: "2026-11-30T20:00:00Z", completed: false }, now)).toBe("later");
  });
});

describe("filters", () => {
  const c = card("c", "L", "a0", { title: "Fix Login", label_ids: ["red"], assignee_ids: ["ann"], due_at: "2026-11-24T00:00:00Z" });
  it("match text in title or description, case-insensitively", () => {
    expect(matches(c, { ...noFilters, text: "login" }, now)).toBe(true);
    expect(matches(c, { ...noFilters, text: "logout" }, now)).toBe(false);
  });
  it("match label, member and due together", () => {
    expect(matches(c, { text: "", labelId: "red", memberId: "ann", due: "overdue" }, now)).toBe(true);
    expect(matches(c, { ...noFilters, labelId: "blue" }, now)).toBe(false);
    expect(matches(c, { ...noFilters, memberId: "bob" }, now)).toBe(false);
    expect(matches(c, { ...noFilters, due: "none" }, now)).toBe(false);
    expect(matches(card("d", "L", "a0"), { ...noFilters, due: "none" }, now)).toBe(true);
  });
  it("round-trip through the URL", () => {
    const f = { text: "x y", labelId: "l", memberId: "", due: "soon" as const };
    expect(filtersFromQuery(filtersToQuery(f))).toEqual(f);
    expect(filtersFromQuery(new URLSearchParams("due=bogus")).due).toBe("");
  });
});
