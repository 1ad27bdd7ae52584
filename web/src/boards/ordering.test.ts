import { describe, expect, it } from "vitest";
import { byPosition, placeAt, positionBetween } from "./ordering";

describe("positions", () => {
  it("makes a key strictly between two keys", () => {
    const k = positionBetween("a0", "a1")!;
    expect("a0" < k && k < "a1").toBe(true);
  });

  it("places at the start, middle and end with the neighbour ids", () => {
    const sibs = [{ id: "x", position: "a0" }, { id: "y", position: "a1" }];
    const start = placeAt(sibs, 0);
    expect([start.afterId, start.beforeId]).toEqual([null, "x"]);
    expect(start.position < "a0").toBe(true);
    const mid = placeAt(sibs, 1);
    expect([mid.afterId, mid.beforeId]).toEqual(["x", "y"]);
    const end = placeAt(sibs, 9);
    expect([end.afterId, end.beforeId]).toEqual(["y", null]);
    expect(end.position > "a1").toBe(true);
    expect(placeAt([], 0)).toMatchObject({ afterId: null, beforeId: null });
  });

  it("never names an item that is still being created", () => {
    const sibs = [{ id: "x", position: "a0" }, { id: "tmp-1", position: "a1" }, { id: "tmp-2", position: "a2" }];
    const end = placeAt(sibs, 3);
    expect([end.afterId, end.beforeId]).toEqual(["x", null]);
    expect(end.position > "a2").toBe(true);
    expect(placeAt(sibs, 1)).toMatchObject({ afterId: "x", beforeId: null });
  });

  it("orders by position then id", () => {
    const items = [{ id: "b", position: "a0" }, { id: "a", position: "a0" }, { id: "c", position: "Zz" }];
    expect(items.sort(byPosition).map((i) => i.id)).toEqual(["c", "a", "b"]);
  });
});
