// Visible messages: failures (with what was undone) and confirmations. role=status so screen readers hear them.
import { createContext, useCallback, useContext, useMemo, useRef, useState, type ReactNode } from "react";

/** A button on a toast (e.g. Undo): pressing it runs `run` and dismisses the toast. */
export interface ToastAction {
  label: string;
  run(): void;
}

interface Toast {
  id: number;
  text: string;
  kind: "error" | "info";
  action?: ToastAction;
}

interface ToastApi {
  error(text: string): void;
  info(text: string, action?: ToastAction): void;
}

const ToastContext = createContext<ToastApi>({ error: () => {}, info: () => {} });

export function useToast(): ToastApi {
  return useContext(ToastContext);
}

export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const next = useRef(1);
  const push = useCallback((text: string, kind: Toast["kind"], action?: ToastAction) => {
    const id = next.current++;
    setToasts((t) => [...t.slice(-3), { id, text, kind, action }]);
    // one with an action stays long enough to be read and pressed
    setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), kind === "error" || action ? 8000 : 4000);
  }, []);
  const api = useMemo(
    () => ({ error: (t: string) => push(t, "error"), info: (t: string, action?: ToastAction) => push(t, "info", action) }),
    [push],
  );
  const dismiss = (id: number) => setToasts((all) => all.filter((x) => x.id !== id));
  return (
    <ToastContext.Provider value={api}>
      {children}
      <div className="toasts" role="status" aria-live="polite">
        {toasts.map((t) => (
          <div key={t.id} className={`toast toast-${t.kind}`} data-testid="toast">
            <span>{t.text}</span>
            {t.action && (
              <button className="link toast-action" onClick={() => { dismiss(t.id); t.action!.run(); }}>
                {t.action.label}
              </button>
            )}
            <button className="link" aria-label="Dismiss" onClick={() => dismiss(t.id)}>
              ×
            </button>
          </div>
        ))}
      </div>
    </ToastContext.Provider>
  );
}
