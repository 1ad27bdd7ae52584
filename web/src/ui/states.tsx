// Loading, empty and error states shared by every screen.
import type { ReactNode } from "react";

export function Loading({ what }: { what: string }) {
  return (
    <div className="state" role="status" aria-busy="true">
      <span className="spinner" aria-hidden="true" /> Loading {what}…
    </div>
  );
}

export function Failed({ message, retry }: { message: string; retry?: () => void }) {
  return (
    <div className="state state-error" role="alert">
      <p>{message}</p>
      {retry && <button onClick={retry}>Try again</button>}
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="state state-empty">{children}</div>;
}

export const PALETTE = ["blue", "sky", "green", "lime", "yellow", "orange", "red", "pink", "purple", "gray", "black"];

/** Class for a palette colour, or an inline style for #rrggbb (set through the DOM, allowed by the CSP). */
export function colorProps(color: string, prefix = "bg"): { className: string; style?: { background: string } } {
  if (color.startsWith("#")) return { className: `${prefix}-custom`, style: { background: color } };
  return { className: `${prefix}-${PALETTE.includes(color) ? color : "gray"}` };
}
