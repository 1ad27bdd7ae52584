import { describe, expect, it, vi } from "vitest";
import { DEAD_AFTER_MS, LiveBoard, PING_AFTER_MS, backoff, type Clock, type LiveHandlers, type LiveStatus } from "./live";

class FakeSocket {
  readyState = 0;
  sent: unknown[] = [];
  onopen: ((ev: Event) => unknown) | null = null;
  onmessage: ((ev: MessageEvent) => unknown) | null = null;
  onclose: ((ev: CloseEvent) => unknown) | null = null;
  onerror: ((ev: Event) => unknown) | null = null;
  send(data: string) { this.sent.push(JSON.parse(data)); }
  close() { this.readyState = 3; this.onclose?.({} as CloseEvent); }
  openNow() { this.readyState = 1; this.onopen?.({} as Event); }
  push(msg: unknown) { this.onmessage?.({ data: JSON.stringify(msg) } as MessageEvent); }
}

function harness() {
  const sockets: FakeSocket[] = [];
  const timers: { fn: () => void; ms: number }[] = [];
  let version = 3;
  const got: { events: number[]; resyncs: number; presence: string[][] } = { events: [], resyncs: 0, presence: [] };
  const handlers: LiveHandlers = {
    version: () => version,
    events: (evs) => { for (const e of evs) { got.events.push(e.board_version!); version = e.board_version!; } },
    presence: (u) => got.presence.push(u),
    resync: () => { got.resyncs += 1; },
    status: () => {},
  };
  const live = new LiveBoard("b", handlers, () => { const s = new FakeSocket(); sockets.push(s); return s as never; }, "ws://x/api/v1/ws",
    (fn, ms) => { timers.push({ fn, ms }); return 0 as never; });
  return { live, sockets, timers, got };
}

const flush = () => new Promise((r) => setTimeout(r, 0));

describe("live connection", () => {
  it("subscribes from the view's version and applies events", async () => {
    const h = harness();
    h.live.start();
    h.sockets[0].openNow();
    expect(h.sockets[0].sent).toEqual([{ type: "subscribe", board_id: "b", after_version: 3 }]);
    h.sockets[0].push({ type: "subscribed", board_id: "b", version: 3 });
    h.sockets[0].push({ type: "event", event: { board_version: 4 } });
    h.sockets[0].push({ type: "event", event: { board_version: 5 } });
    await flush();
    expect(h.got.events).toEqual([4, 5]);
  });

  it("unpacks batch frames in order", async () => {
    const h = harness();
    h.live.start();
    h.sockets[0].openNow();
    h.sockets[0].push({ type: "batch", messages: [
      { type: "subscribed", board_id: "b", version: 3 },
      { type: "event", event: { board_version: 4 } },
      { type: "event", event: { board_version: 5 } },
    ] });
    await flush();
    expect(h.got.events).toEqual([4, 5]);
  });

  it("reconnects with back-off and catches up from the last version seen", async () => {
    const h = harness();
    h.live.start();
    h.sockets[0].openNow();
    h.sockets[0].push({ type: "event", event: { board_version: 4 } });
    await flush();
    h.sockets[0].close();
    expect(h.timers).toHaveLength(1);
    expect(h.timers[0].ms).toBe(backoff(0));
    h.timers[0].fn();
    h.sockets[1].openNow();
    expect(h.sockets[1].sent).toEqual([{ type: "subscribe", board_id: "b", after_version: 4 }]);
    h.sockets[1].close();
    expect(h.timers[1].ms).toBeGreaterThan(h.timers[0].ms);
    expect(backoff(50)).toBe(10_000);
  });

  it("answers pings, reports presence and resync, and stops for good", () => {
    const h = harness();
    h.live.start();
    h.sockets[0].openNow();
    h.sockets[0].push({ type: "ping" });
    expect(h.sockets[0].sent.at(-1)).toEqual({ type: "pong" });
    h.sockets[0].push({ type: "presence", board_id: "b", users: ["u1", "u2"] });
    h.sockets[0].push({ type: "resync", board_id: "b", version: 9, reason: "gap" });
    expect(h.got.presence).toEqual([["u1", "u2"]]);
    expect(h.got.resyncs).toBe(1);
    h.live.stop();
    expect(h.timers).toHaveLength(0);
  });

  it("reconnects on the browser's own timer (not only an injected one)", () => {
    vi.useFakeTimers();
    try {
      const sockets: FakeSocket[] = [];
      const handlers: LiveHandlers = { version: () => 1, events: () => {}, presence: () => {}, resync: () => {}, status: () => {} };
      const live = new LiveBoard("b", handlers, () => { const s = new FakeSocket(); sockets.push(s); return s as never; }, "ws://x/api/v1/ws");
      live.start();
      sockets[0].openNow();
      sockets[0].close();
      vi.advanceTimersByTime(backoff(0));
      expect(sockets).toHaveLength(2);
      live.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it("gives up a socket that falls silent, says offline, and says caught up once back", async () => {
    let now = 0;
    const beats: (() => void)[] = [];
    const later: (() => void)[] = [];
    const clock: Clock = {
      now: () => now,
      every: (fn) => { beats.push(fn); return () => beats.splice(beats.indexOf(fn), 1); },
      after: (fn) => { later.push(fn); return () => later.splice(later.indexOf(fn), 1); },
    };
    const tick = (ms: number) => { now += ms; for (const fn of [...beats]) fn(); };
    const sockets: FakeSocket[] = [];
    const statuses: LiveStatus[] = [];
    let version = 3;
    const handlers: LiveHandlers = {
      version: () => version, events: (evs) => { version = evs.at(-1)!.board_version!; }, presence: () => {},
      resync: () => {}, status: (s) => statuses.push(s),
    };
    const timers: (() => void)[] = [];
    const live = new LiveBoard("b", handlers, () => { const s = new FakeSocket(); sockets.push(s); return s as never; },
      "ws://x/api/v1/ws", (fn) => { timers.push(fn); return 0 as never; }, clock);
    live.start();
    sockets[0].openNow();
    sockets[0].push({ type: "subscribed", board_id: "b", version: 3 });
    expect(statuses.at(-1)).toBe("live");

    tick(PING_AFTER_MS); // quiet: ask for a pong
    expect(sockets[0].sent.at(-1)).toEqual({ type: "ping" });
    sockets[0].push({ type: "pong" });
    tick(PING_AFTER_MS - 1);
    expect(statuses.at(-1)).toBe("live");

    tick(DEAD_AFTER_MS); // the server froze: no pong, no close either
    expect(statuses.at(-1)).toBe("offline");
    expect(sockets[0].readyState).toBe(3);
    expect(timers).toHaveLength(1);

    timers[0](); // reconnect: the server missed us two events
    sockets[1].openNow();
    sockets[1].push({ type: "batch", messages: [
      { type: "subscribed", board_id: "b", version: 5 },
      { type: "event", event: { board_version: 4 } },
      { type: "event", event: { board_version: 5 } },
    ] });
    expect(statuses.at(-1)).toBe("live");
    await flush();
    expect(statuses.at(-1)).toBe("caught_up");
    later.splice(0).forEach((fn) => fn());
    expect(statuses.at(-1)).toBe("live");
    live.stop();
    expect(beats).toHaveLength(0);
  });
});
