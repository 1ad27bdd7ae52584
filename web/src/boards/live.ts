// The board's live connection: subscribe from the last version seen, reconnect with back-off and
// catch up from there, answer heartbeats, and hand events, presence and resync requests to the view.
// A socket can die without closing (a frozen server, a dropped network path): the client pings when the
// line is quiet and gives the socket up when nothing at all arrives for DEAD_AFTER_MS.
import type { BoardEvent } from "../api/client";

type ServerMessage = { type?: string; [k: string]: unknown };

export interface LiveHandlers {
  /** The newest board version the view holds (the catch-up point after a reconnect). */
  version(): number;
  events(events: BoardEvent[]): void;
  presence(users: string[]): void;
  /** The server cannot replay what we missed: reload the snapshot. */
  resync(): void;
  status(status: LiveStatus): void;
  /** The server refused the socket (policy close, e.g. an expired session): renew the session. */
  refused?(): void;
}

/** `caught_up`: live again after being offline, with everything missed meanwhile applied (then `live`). */
export type LiveStatus = "connecting" | "live" | "offline" | "caught_up";

type SocketLike = Pick<WebSocket, "send" | "close" | "readyState"> & {
  onopen: ((ev: Event) => unknown) | null;
  onmessage: ((ev: MessageEvent) => unknown) | null;
  onclose: ((ev: CloseEvent) => unknown) | null;
  onerror: ((ev: Event) => unknown) | null;
};

export const MAX_BACKOFF_MS = 10_000;
/** Quiet for this long: ask the server for a pong (it pings every 20 s on its own). */
export const PING_AFTER_MS = 5_000;
/** Nothing at all for this long (not even the pong, nor the answer to subscribe): the socket is dead. */
export const DEAD_AFTER_MS = 10_000;
const CAUGHT_UP_SHOWN_MS = 4_000;

/** The heartbeat's time source and repeating timer (injectable for tests). */
export interface Clock {
  now(): number;
  /** Run `fn` every `ms`; returns what stops it. */
  every(fn: () => void, ms: number): () => void;
  /** Run `fn` once after `ms`; returns what cancels it. */
  after(fn: () => void, ms: number): () => void;
}

const browserClock: Clock = {
  now: () => Date.now(),
  every: (fn, ms) => {
    const id = setInterval(fn, ms);
    return () => clearInterval(id);
  },
  after: (fn, ms) => {
    const id = setTimeout(fn, ms);
    return () => clearTimeout(id);
  },
};

export function backoff(attempt: number): number {
  return Math.min(MAX_BACKOFF_MS, 250 * 2 ** attempt);
}

export function socketUrl(loc: Pick<Location, "protocol" | "host">): string {
  return `${loc.protocol === "https:" ? "wss" : "ws"}://${loc.host}/api/v1/ws`;
}

export class LiveBoard {
  private socket: SocketLike | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  private batch: BoardEvent[] = [];
  private heard = 0;
  private stopBeat: (() => void) | null = null;
  private wasOffline = false;
  /** After a reconnect: the version the server had when it subscribed us; caught up once the view has it. */
  private catchUpTo: number | null = null;
  /** The newest board version handed to the view (which applies it on its next render). */
  private seen = 0;
  private caughtUpTimer: (() => void) | null = null;

  constructor(
    private readonly boardId: string,
    private readonly handlers: LiveHandlers,
    private readonly open: (url: string) => SocketLike = (url) => new WebSocket(url),
    private readonly url: string = socketUrl(window.location),
    private readonly schedule: (fn: () => void, ms: number) => ReturnType<typeof setTimeout> = (fn, ms) => setTimeout(fn, ms),
    private readonly clock: Clock = browserClock,
  ) {}

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.quiet();
    const s = this.socket;
    this.socket = null;
    if (s) {
      s.onclose = null;
      s.close(1000, "leaving the board");
    }
  }

  /** Subscribe again from the view's version (after a snapshot reload). */
  resubscribe(): void {
    this.subscribe();
  }

  private subscribe(): void {
    if (this.socket && this.socket.readyState === 1) {
      this.socket.send(JSON.stringify({ type: "subscribe", board_id: this.boardId, after_version: this.handlers.version() }));
    }
  }

  private connect(): void {
    this.handlers.status(this.wasOffline ? "offline" : "connecting"); // reconnecting: still offline until subscribed
    const socket = this.open(this.url);
    this.socket = socket;
    socket.onopen = () => this.subscribe();
    socket.onmessage = (ev) => {
      this.heard = this.clock.now();
      this.receive(String(ev.data));
    };
    socket.onerror = () => socket.close();
    socket.onclose = (ev) => {
      if (this.socket !== socket) return;
      if (ev?.code === 1008) this.handlers.refused?.();
      this.lost();
    };
    this.heard = this.clock.now();
    this.stopBeat?.();
    this.stopBeat = this.clock.every(() => this.beat(socket), PING_AFTER_MS / 2);
  }

  /** The heartbeat: ping a quiet line; give up a socket that stays silent (it never says it closed). */
  private beat(socket: SocketLike): void {
    if (this.socket !== socket) return;
    const silent = this.clock.now() - this.heard;
    if (silent >= DEAD_AFTER_MS) {
      socket.onclose = socket.onmessage = socket.onerror = socket.onopen = null;
      socket.close(4000, "no heartbeat");
      this.lost();
    } else if (silent >= PING_AFTER_MS && socket.readyState === 1) {
      socket.send(JSON.stringify({ type: "ping" }));
    }
  }

  private lost(): void {
    this.socket = null;
    this.quiet();
    this.wasOffline = true;
    this.catchUpTo = null;
    this.handlers.status("offline");
    if (this.stopped) return;
    const wait = backoff(this.attempt++);
    this.timer = this.schedule(() => this.connect(), wait);
  }

  private quiet(): void {
    this.stopBeat?.();
    this.stopBeat = null;
    this.caughtUpTimer?.();
    this.caughtUpTimer = null;
  }

  /** Live again: say "caught up" (for a while) once the view holds what the server had on resubscribing. */
  private checkCaughtUp(): void {
    if (this.catchUpTo === null || Math.max(this.seen, this.handlers.version()) < this.catchUpTo) return;
    this.catchUpTo = null;
    this.handlers.status("caught_up");
    this.caughtUpTimer?.();
    this.caughtUpTimer = this.clock.after(() => {
      this.caughtUpTimer = null;
      if (this.socket) this.handlers.status("live");
    }, CAUGHT_UP_SHOWN_MS);
  }

  private live(version: unknown): void {
    this.attempt = 0;
    this.handlers.status("live");
    if (!this.wasOffline) return;
    this.wasOffline = false;
    this.catchUpTo = typeof version === "number" ? version : 0;
    this.checkCaughtUp();
  }

  private flush = () => {
    const events = this.batch;
    this.batch = [];
    for (const e of events) this.seen = Math.max(this.seen, e.board_version ?? 0);
    if (events.length) this.handlers.events(events);
    this.checkCaughtUp();
  };

  private receive(text: string): void {
    let msg: ServerMessage;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    // several messages queued at once arrive as one `batch` frame, in order
    const messages = msg.type === "batch" ? (msg.messages as ServerMessage[]) : [msg];
    for (const one of messages) this.handle(one);
  }

  private handle(msg: ServerMessage): void {
    switch (msg.type) {
      case "subscribed":
        this.live(msg.version);
        break;
      case "event":
        // a burst (catch-up replay) is applied in one render
        if (this.batch.length === 0) queueMicrotask(this.flush);
        this.batch.push(msg.event as BoardEvent);
        break;
      case "resync":
        // the view reloads its snapshot and subscribes again: "caught up" waits for that `subscribed`
        this.flush();
        this.attempt = 0;
        this.handlers.status("live");
        this.handlers.resync();
        break;
      case "presence":
        if (msg.board_id === this.boardId) this.handlers.presence(msg.users as string[]);
        break;
      case "ping":
        this.socket?.send(JSON.stringify({ type: "pong" }));
        break;
      case "unsubscribed":
        if (msg.reason === "access_revoked") this.handlers.resync();
        break;
      default:
        break;
    }
  }
}
