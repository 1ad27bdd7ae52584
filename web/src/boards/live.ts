// The board's live connection: subscribe from the last version seen, reconnect with back-off and
// catch up from there, answer heartbeats, and hand events, presence and resync requests to the view.
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

export type LiveStatus = "connecting" | "live" | "offline";

type SocketLike = Pick<WebSocket, "send" | "close" | "readyState"> & {
  onopen: ((ev: Event) => unknown) | null;
  onmessage: ((ev: MessageEvent) => unknown) | null;
  onclose: ((ev: CloseEvent) => unknown) | null;
  onerror: ((ev: Event) => unknown) | null;
};

export const MAX_BACKOFF_MS = 10_000;

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

  constructor(
    private readonly boardId: string,
    private readonly handlers: LiveHandlers,
    private readonly open: (url: string) => SocketLike = (url) => new WebSocket(url),
    private readonly url: string = socketUrl(window.location),
    private readonly schedule: (fn: () => void, ms: number) => ReturnType<typeof setTimeout> = (fn, ms) => setTimeout(fn, ms),
  ) {}

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
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
    this.handlers.status("connecting");
    const socket = this.open(this.url);
    this.socket = socket;
    socket.onopen = () => this.subscribe();
    socket.onmessage = (ev) => this.receive(String(ev.data));
    socket.onerror = () => socket.close();
    socket.onclose = (ev) => {
      if (this.socket !== socket) return;
      if (ev?.code === 1008) this.handlers.refused?.();
      this.socket = null;
      this.handlers.status("offline");
      if (this.stopped) return;
      const wait = backoff(this.attempt++);
      this.timer = this.schedule(() => this.connect(), wait);
    };
  }

  private flush = () => {
    const events = this.batch;
    this.batch = [];
    if (events.length) this.handlers.events(events);
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
        this.attempt = 0;
        this.handlers.status("live");
        break;
      case "event":
        // a burst (catch-up replay) is applied in one render
        if (this.batch.length === 0) queueMicrotask(this.flush);
        this.batch.push(msg.event as BoardEvent);
        break;
      case "resync":
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
