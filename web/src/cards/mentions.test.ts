import { describe, expect, it } from "vitest";
import { insertMention, mentionAt, suggest } from "./mentions";

const people = [
  { id: "1", name: "Ann Lee", email: "ann@example.com" },
  { id: "2", name: "Bob Stone", email: "bob@example.com" },
  { id: "3", name: "Lena Ann", email: "lena@example.com" },
];

describe("mentions", () => {
  it("finds the handle being typed, not e-mail addresses in text", () => {
    expect(mentionAt("hi @an", 6)).toEqual({ start: 3, query: "an" });
    expect(mentionAt("@", 1)).toEqual({ start: 0, query: "" });
    expect(mentionAt("mail me at x@an", 15)).toBeNull();
    expect(mentionAt("hi @ann done", 12)).toBeNull();
  });
  it("suggests prefix matches first", () => {
    expect(suggest(people, "ann").map((p) => p.id)).toEqual(["1", "3"]);
    expect(suggest(people, "zz")).toEqual([]);
  });
  it("inserts the e-mail handle the server resolves", () => {
    expect(insertMention("hi @an!", 3, 6, people[0])).toEqual({ text: "hi @ann@example.com !", caret: 20 });
  });
});
