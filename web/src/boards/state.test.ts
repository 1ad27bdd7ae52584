import { describe, expect, it } from "vitest";
import { columns, initialState, reducer, view, type BoardState } from "./state";
import { card, event, list, snapshot } from "./fixtures.test-helpers";

function loaded(): BoardState {
  const lists = [list("L2", "a1"), list("L1", "a0")];
  const cards = [card("c2", "L1", "a1"), card("c1", "L1", "a0"), card("c3", "L2", "a0")];
  return reducer(initialState, { type: "snapshot", snapshot: snapshot(5, lists, cards) });
}

const titles = (s: BoardState) => columns(view(s)!).map((c) => [c.list.id, c.cards.map((x) => x.id)]);

describe("ordering in the view", () => {
  it("sorts lists and cards by position", () => {
    expect(titles(loaded())).toEqual([["L1", ["c1", "c2"]], ["L2", ["c3"]]]);
  });
});

describe("applying server events", () => {
  it("applies events in version order and advances the version", () => {
    let s = loaded();
    s = reducer(s, { type: "events", events: [
      event(6, "card.moved", { card: card("c1", "L2", "a1"), from_list_id: "L1" }),
      event(7, "card.created", { card: card("c4", "L1", "Zz") }),
    ] });
    expect(s.data!.version).toBe(7);
    expect(titles(s)).toEqual([["L1", ["c4", "c2"]], ["L2", ["c3", "c1"]]]);
  });

  it("ignores events already seen (replay overlap)", () => {
    let s = loaded();
    s = reducer(s, { type: "events", events: [event(5, "card.deleted", { card_id: "c1", list_id: "L1" })] });
    expect(view(s)!.cards.map((c) => c.id)).toContain("c1");
    expect(s.stale).toBe(false);
  });

  it("marks the board stale on a gap instead of applying out of order", () => {
    let s = loaded();
    s = reducer(s, { type: "events", events: [event(7, "card.deleted", { card_id: "c1", list_id: "L1" })] });
    expect(s.stale).toBe(true);
    expect(s.data!.version).toBe(5);
    expect(view(s)!.cards.map((c) => c.id)).toContain("c1");
  });

  it("tracks labels, assignees and comment counts", () => {
    let s = loaded();
    s = reducer(s, { type: "events", events: [
      event(6, "card.label_added", { card_id: "c1", label_id: "lab" }, "c1"),
      event(7, "card.assignee_added", { card_id: "c1", user_id: "u1" }, "c1"),
      event(8, "comment.created", { comment: { id: "m", card_id: "c1" } }, "c1"),
      event(9, "card.assignee_removed", { card_id: "c1", user_id: "u1" }, "c1"),
    ] });
    const c1 = view(s)!.cards.find((c) => c.id === "c1")!;
    expect(c1.label_ids).toEqual(["lab"]);
    expect(c1.assignee_ids).toEqual([]);
    expect(c1.comment_count).toBe(1);
  });

  it("removes archived cards and deleted lists with their cards", () => {
    let s = loaded();
    s = reducer(s, { type: "events", events: [
      event(6, "card.updated", { card: card("c2", "L1", "a1", { archived: true }), changes: ["archived"] }),
      event(7, "list.deleted", { list_id: "L2" }),
    ] });
    expect(titles(s)).toEqual([["L1", ["c1"]]]);
  });

  it("puts a card restored from the trash back, and reloads for a restored list", () => {
    let s = reducer(loaded(), { type: "events", events: [event(6, "card.deleted", { card_id: "c1", list_id: "L1" })] });
    s = reducer(s, { type: "events", events: [event(7, "card.restored", { card: card("c1", "L1", "a0") }, "c1")] });
    expect(titles(s)).toEqual([["L1", ["c1", "c2"]], ["L2", ["c3"]]]);
    s = reducer(s, { type: "events", events: [event(8, "list.restored", { list: list("L3", "a2") })] });
    expect(s.stale).toBe(true); // its cards come back with it: only a snapshot has them
  });

  it("hides a list being deleted with its cards, and keeps it gone once confirmed", () => {
    let s = reducer(loaded(), { type: "optimistic", op: { kind: "list.delete", opId: "d", listId: "L1" } });
    expect(titles(s)).toEqual([["L2", ["c3"]]]);
    s = reducer(s, { type: "confirm", opId: "d", removedLists: ["L1"] });
    expect(titles(s)).toEqual([["L2", ["c3"]]]);
    expect(s.pending).toEqual([]);
  });

  it("asks to refetch a card whose checklist changed", () => {
    const s = reducer(loaded(), { type: "events", events: [event(6, "checklist_item.deleted", { item_id: "i", checklist_id: "k", card_id: "c1" }, "c1")] });
    expect(s.refetch).toEqual(["c1"]);
    const after = reducer(s, { type: "cards", cards: [card("c1", "L1", "a0", { checklist_total: 2 })] });
    expect(after.refetch).toEqual([]);
    expect(view(after)!.cards.find((c) => c.id === "c1")!.checklist_total).toBe(2);
  });

  it("ignores a snapshot older than the events already applied", () => {
    let s = reducer(loaded(), { type: "events", events: [event(6, "card.created", { card: card("c9", "L1", "b") })] });
    s = reducer(s, { type: "snapshot", snapshot: snapshot(5, [list("L1", "a0")], []) });
    expect(s.data!.version).toBe(6);
  });
});

describe("optimistic updates", () => {
  it("shows a move at once and keeps it when the server confirms", () => {
    let s = reducer(loaded(), { type: "optimistic", op: { kind: "card.move", opId: "op1", cardId: "c1", listId: "L2", position: "a1" } });
    expect(titles(s)).toEqual([["L1", ["c2"]], ["L2", ["c3", "c1"]]]);
    s = reducer(s, { type: "confirm", opId: "op1", cards: [card("c1", "L2", "a1")] });
    expect(s.pending).toEqual([]);
    expect(titles(s)).toEqual([["L1", ["c2"]], ["L2", ["c3", "c1"]]]);
  });

  it("rolls back to the confirmed state on failure", () => {
    const before = titles(loaded());
    let s = reducer(loaded(), { type: "optimistic", op: { kind: "card.move", opId: "op1", cardId: "c1", listId: "L2", position: "a1" } });
    s = reducer(s, { type: "optimistic", op: { kind: "card.update", opId: "op2", cardId: "c2", patch: { title: "new" } } });
    s = reducer(s, { type: "rollback", opId: "op1" });
    expect(view(s)!.cards.find((c) => c.id === "c1")!.list_id).toBe("L1");
    expect(view(s)!.cards.find((c) => c.id === "c2")!.title).toBe("new");
    s = reducer(s, { type: "rollback", opId: "op2" });
    expect(titles(s)).toEqual(before);
    expect(view(s)!.cards.find((c) => c.id === "c2")!.title).toBe("c2");
  });

  it("keeps a pending edit on top of others' events until it settles", () => {
    let s = reducer(loaded(), { type: "optimistic", op: { kind: "card.update", opId: "op", cardId: "c1", patch: { title: "mine" } } });
    s = reducer(s, { type: "events", events: [event(6, "card.updated", { card: card("c1", "L1", "a0", { description: "theirs" }), changes: ["description"] })] });
    const c1 = view(s)!.cards.find((c) => c.id === "c1")!;
    expect(c1.title).toBe("mine");
    expect(c1.description).toBe("theirs");
  });

  it("replaces a temporary card by the created one", () => {
    let s = reducer(loaded(), { type: "optimistic", op: { kind: "card.create", opId: "tmp", card: card("tmp", "L2", "a5") } });
    expect(view(s)!.cards.map((c) => c.id)).toContain("tmp");
    s = reducer(s, { type: "confirm", opId: "tmp", cards: [card("real", "L2", "a5")] });
    s = reducer(s, { type: "events", events: [event(6, "card.created", { card: card("real", "L2", "a5") })] });
    expect(titles(s)).toEqual([["L1", ["c1", "c2"]], ["L2", ["c3", "real"]]]);
  });

  it("archiving a list hides it and its cards, and rolls back whole", () => {
    let s = reducer(loaded(), { type: "optimistic", op: { kind: "list.update", opId: "x", listId: "L1", patch: { archived: true } } });
    expect(titles(s)).toEqual([["L2", ["c3"]]]);
    s = reducer(s, { type: "rollback", opId: "x" });
    expect(titles(s)).toEqual([["L1", ["c1", "c2"]], ["L2", ["c3"]]]);
  });
});
