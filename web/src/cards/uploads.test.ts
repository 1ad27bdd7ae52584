import { describe, expect, it } from "vitest";
import { UploadStore } from "./uploads";

describe("uploads in progress", () => {
  it("are kept per card; a card's array changes only when its uploads do", () => {
    const store = new UploadStore();
    let calls = 0;
    store.subscribe(() => (calls += 1));
    const empty = store.forCard("c2");
    const id = store.add("c1", "shot.png");
    expect(store.forCard("c1")).toMatchObject([{ filename: "shot.png", percent: 0 }]);
    expect(store.forCard("c2")).toBe(empty); // other tiles do not re-render

    const before = store.forCard("c1");
    store.progress("c1", id, 10, 1000); // 1 %
    const at1 = store.forCard("c1");
    expect(at1).not.toBe(before);
    expect(at1[0].percent).toBe(1);
    store.progress("c1", id, 15, 1000); // still 1 %: no change, no render
    expect(store.forCard("c1")).toBe(at1);
    store.progress("c1", id, 2000, 1000);
    expect(store.forCard("c1")[0].percent).toBe(100);

    store.done("c1", id);
    expect(store.forCard("c1")).toEqual([]);
    expect(calls).toBe(4); // add, 1 %, 100 %, done
  });
});
