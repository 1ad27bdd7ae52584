// A modal dialog's focus and keyboard: focus moves into it once, Escape closes it, and focus goes back where it
// was on close. Live re-renders must not move the focus, so `close` is read through a ref.
import { useEffect, useRef, type RefObject } from "react";

export function useDialogFocus(dialog: RefObject<HTMLElement | null>, close: () => void): void {
  const closeRef = useRef(close);
  closeRef.current = close;
  useEffect(() => {
    const prev = document.activeElement as HTMLElement | null;
    dialog.current?.focus();
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && !e.defaultPrevented && closeRef.current();
    window.addEventListener("keydown", onKey);
    return () => {
      window.removeEventListener("keydown", onKey);
      prev?.focus?.();
    };
  }, [dialog]);
}
