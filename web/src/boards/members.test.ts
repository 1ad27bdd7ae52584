import { describe, expect, it } from "vitest";
import type { BoardMember, Member } from "../api/client";
import { addable } from "./members";

const person = (id: string, name: string) => ({ id, name, email: `${id}@example.com` });
const inWorkspace = (id: string, name: string, role = "member"): Member =>
  ({ user: person(id, name), role, created_at: "2026-01-01T00:00:00Z" }) as Member;
const onBoard = (id: string, name: string, explicit: boolean): BoardMember => ({ user: person(id, name), role: "editor", explicit });

describe("people a board admin may add", () => {
  it("are the workspace's members who are not explicit board members yet, by name", () => {
    const workspace = [inWorkspace("z", "Zoe"), inWorkspace("a", "Ann", "owner"), inWorkspace("g", "Gus", "guest"), inWorkspace("m", "Mia")];
    const board = [onBoard("a", "Ann", true), onBoard("m", "Mia", false)];
    // Mia sees the board through her workspace role and may still be given an explicit one
    expect(addable(workspace, board).map((m) => m.user.name)).toEqual(["Gus", "Mia", "Zoe"]);
  });
  it("never include anyone outside the workspace, even if the board lists them", () => {
    const board = [onBoard("x", "Xavier", true)];
    expect(addable([inWorkspace("a", "Ann")], board).map((m) => m.user.id)).toEqual(["a"]);
    expect(addable([], [onBoard("y", "Yan", false)])).toEqual([]);
  });
});
