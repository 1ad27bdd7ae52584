import { describe, expect, it } from "vitest";
import { insertMention, mentionAt, mentionedIds, suggest } from "./mentions";

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
  it("inserts the person's name, not their e-mail address", () => {
    expect(insertMention("hi @an!", 3, 6, people[0])).toEqual({ text: "hi @Ann Lee !", caret: 12 });
  });
  it("finds who the text names, the longest name first", () => {
    const more = [...people, { id: "4", name: "Ann", email: "ann2@example.com" }];
    expect(mentionedIds("hi @Ann Lee and @bob stone, not mail@Lena Ann", more)).toEqual(["1", "2"]);
    expect(mentionedIds("@Ann: look", more)).toEqual(["4"]);
    expect(mentionedIds("@Annie", more)).toEqual([]);
    expect(mentionedIds("no one", more)).toEqual([]);
  });
});
