import { describe, expect, it } from "vitest";
import { event } from "../boards/fixtures.test-helpers";
import { describe as inWords } from "./Comments";

describe("activity in words", () => {
  it("names attachments and the cover", () => {
    expect(inWords(event(1, "attachment.created", { attachment: { id: "a", filename: "plan.pdf" } }, "c"))).toBe("attached “plan.pdf”");
    expect(inWords(event(2, "attachment.deleted", { attachment_id: "a", card_id: "c", filename: "plan.pdf", cover_cleared: false }, "c")))
      .toBe("deleted the attachment “plan.pdf”");
    expect(inWords(event(3, "card.updated", { card: {}, changes: ["cover_attachment_id"] }, "c"))).toBe("changed the cover");
    expect(inWords(event(4, "card.updated", { card: {}, changes: ["due_at", "title"] }, "c"))).toBe("changed due date, title");
  });
  it("names who was assigned", () => {
    const names = new Map([["u1", "Bob Stone"]]);
    const assigned = event(5, "card.assignee_added", { card_id: "c", user_id: "u1" }, "c");
    expect(inWords(assigned, names)).toBe("assigned Bob Stone");
    expect(inWords({ ...assigned, type: "card.assignee_removed" }, names)).toBe("unassigned Bob Stone");
    expect(inWords({ ...assigned, actor_id: "u1" }, names)).toBe("assigned themselves");
    expect(inWords(assigned)).toBe("assigned a former member");
  });
});
