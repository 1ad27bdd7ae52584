// The board's connection in words: live, saving, offline (reconnecting), connecting, caught up after a gap.
import type { LiveStatus } from "../boards/live";

const SHOWN: Record<LiveStatus | "saving", { text: string; title: string }> = {
  live: { text: "● Live", title: "Live: changes appear as they happen" },
  saving: { text: "◌ Saving…", title: "Sending your changes to the server" },
  caught_up: { text: "✓ Caught up", title: "Back online: everything changed meanwhile is shown" },
  offline: { text: "○ Offline — reconnecting", title: "No connection to the server: trying again" },
  connecting: { text: "○ Connecting…", title: "Connecting" },
};

/** `saving`: changes of this tab are on their way (shown while the connection is up). */
export function LiveIndicator({ status, saving }: { status: LiveStatus; saving: boolean }) {
  const key = saving && (status === "live" || status === "caught_up") ? "saving" : status;
  const { text, title } = SHOWN[key];
  return (
    <span className={`live live-${status}`} title={title} data-testid="live-status">
      {text}
    </span>
  );
}
