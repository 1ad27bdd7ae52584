import { describe, expect, it } from "vitest";
import type { Attachment } from "../api/attachments";
import { initialState, reducer, view, type BoardState } from "./state";
import { card, event, list, snapshot } from "./fixtures.test-helpers";

function attachment(id: string, cardId = "c1", extra: Partial<Attachment> = {}): Attachment {
  return {
    id, card_id: cardId, filename: `${id}.png`, content_type: "image/png", size: 10, sha256: "00", width: 4, height: 3,
    has_thumbnail: true, uploader_id: "u", region: "local", created_at: "2026-11-25T00:00:00Z",
    content_url: `/api/v1/attachments/${id}/content`, thumbnail_url: `/api/v1/attachments/${id}/thumbnail`, ...extra,
  };
}

function loaded(cover: string | null = null): BoardState {
  const cards = [card("c1", "L1", "a0", { attachment_count: 1, cover_attachment_id: cover }), card("c2", "L1", "a1")];
  return reducer(initialState, { type: "snapshot", snapshot: snapshot(5, [list("L1", "a0")], cards) });
}

const c = (s: BoardState, id = "c1") => view(s)!.cards.find((x) => x.id === id)!;
const listed = (s: BoardState, id = "c1") => view(s)!.attachments[id]?.map((a) => a.id);

describe("attachment events", () => {
  it("count uploads and deletes on the card, with or without its list loaded", () => {
    let s = reducer(loaded(), { type: "events", events: [
      event(6, "attachment.created", { attachment: attachment("a2") }, "c1"),
      event(7, "attachment.created", { attachment: attachment("a3", "c2") }, "c2"),
    ] });
    expect(c(s).attachment_count).toBe(2);
    expect(c(s, "c2").attachment_count).toBe(1);
    expect(listed(s)).toBeUndefined(); // never loaded: nothing to keep current
    s = reducer(s, { type: "events", events: [
      event(8, "attachment.deleted", { attachment_id: "a3", card_id: "c2", filename: "a3.png", cover_cleared: false }, "c2"),
    ] });
    expect(c(s, "c2").attachment_count).toBe(0);
    expect(s.data!.version).toBe(8);
  });

  it("keep a loaded list current: someone else's upload appears, a deleted file goes", () => {
    let s = reducer(loaded(), { type: "attachments", cardId: "c1", items: [attachment("a1")] });
    s = reducer(s, { type: "events", events: [event(6, "attachment.created", { attachment: attachment("a2") }, "c1")] });
    expect(listed(s)).toEqual(["a1", "a2"]);
    s = reducer(s, { type: "events", events: [
      event(7, "attachment.deleted", { attachment_id: "a1", card_id: "c1", filename: "a1.png", cover_cleared: false }, "c1"),
    ] });
    expect(listed(s)).toEqual(["a2"]);
    expect(c(s).attachment_count).toBe(1);
  });

  it("list an own upload once, whether its answer or its event comes first", () => {
    let s = reducer(loaded(), { type: "attachments", cardId: "c1", items: [attachment("a1")] });
    s = reducer(s, { type: "attachment.added", attachment: attachment("a2") });
    expect(c(s).attachment_count).toBe(1); // the count is the server's: the event brings it
    s = reducer(s, { type: "events", events: [event(6, "attachment.created", { attachment: attachment("a2") }, "c1")] });
    expect(listed(s)).toEqual(["a1", "a2"]);
    expect(c(s).attachment_count).toBe(2);
    s = reducer(s, { type: "events", events: [event(7, "attachment.created", { attachment: attachment("a3") }, "c1")] });
    s = reducer(s, { type: "attachment.added", attachment: attachment("a3") });
    expect(listed(s)).toEqual(["a1", "a2", "a3"]);
  });

  it("clear the cover when the cover's file is deleted (cover_cleared)", () => {
    let s = reducer(loaded("a1"), { type: "attachments", cardId: "c1", items: [attachment("a1")] });
    s = reducer(s, { type: "events", events: [
      event(6, "attachment.deleted", { attachment_id: "a1", card_id: "c1", filename: "a1.png", cover_cleared: true }, "c1"),
    ] });
    expect(c(s).cover_attachment_id).toBeNull();
    expect(c(s).attachment_count).toBe(0);
    expect(listed(s)).toEqual([]);
  });

  it("clear the cover at once when this user deletes it, and leave other covers alone", () => {
    let s = reducer(loaded("a1"), { type: "attachment.removed", cardId: "c1", attachmentId: "a9" });
    expect(c(s).cover_attachment_id).toBe("a1");
    s = reducer(s, { type: "attachment.removed", cardId: "c1", attachmentId: "a1" });
    expect(c(s).cover_attachment_id).toBeNull();
  });

  it("show a cover set by someone else (card.updated) and a pending one of our own on top", () => {
    let s = reducer(loaded(), { type: "events", events: [
      event(6, "card.updated", { card: card("c1", "L1", "a0", { attachment_count: 1, cover_attachment_id: "a1" }), changes: ["cover_attachment_id"] }),
    ] });
    expect(c(s).cover_attachment_id).toBe("a1");
    s = reducer(s, { type: "optimistic", op: { kind: "card.update", opId: "op", cardId: "c1", patch: { cover_attachment_id: null } } });
    expect(c(s).cover_attachment_id).toBeNull();
    s = reducer(s, { type: "rollback", opId: "op" });
    expect(c(s).cover_attachment_id).toBe("a1");
  });

  it("forget loaded lists with a new snapshot (the dialog loads them again)", () => {
    let s = reducer(loaded(), { type: "attachments", cardId: "c1", items: [attachment("a1")] });
    s = reducer(s, { type: "stale" });
    s = reducer(s, { type: "snapshot", snapshot: snapshot(9, [list("L1", "a0")], [card("c1", "L1", "a0", { attachment_count: 2 })]) });
    expect(listed(s)).toBeUndefined();
    expect(c(s).attachment_count).toBe(2);
  });
});
