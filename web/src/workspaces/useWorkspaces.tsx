// The caller's workspaces, shared by the switcher and the screens.
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import { api, unwrap, type Workspace } from "../api/client";

interface Workspaces {
  items: Workspace[] | null;
  error: string | null;
  reload(): Promise<void>;
  create(name: string): Promise<Workspace>;
}

const Ctx = createContext<Workspaces | null>(null);
const LAST = "orbitask.workspace";

export function useWorkspaces(): Workspaces {
  const ctx = useContext(Ctx);
  if (!ctx) throw new Error("useWorkspaces outside WorkspacesProvider");
  return ctx;
}

export function rememberWorkspace(id: string): void {
  localStorage.setItem(LAST, id);
}

export function lastWorkspace(items: Workspace[]): Workspace | undefined {
  const id = localStorage.getItem(LAST);
  return items.find((w) => w.id === id) ?? items[0];
}

export function WorkspacesProvider({ children }: { children: ReactNode }) {
  const [items, setItems] = useState<Workspace[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const reload = useCallback(async () => {
    try {
      const all: Workspace[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 20; page++) {
        const out = await unwrap(api.GET("/api/v1/workspaces", { params: { query: { limit: 100, cursor } } }));
        all.push(...out.items);
        if (!out.next_cursor) break;
        cursor = out.next_cursor;
      }
      setItems(all);
      setError(null);
    } catch (err) {
      setError((err as Error).message);
    }
  }, []);
  const create = useCallback(
    async (name: string) => {
      const ws = await unwrap(api.POST("/api/v1/workspaces", { body: { name } }));
      await reload();
      return ws;
    },
    [reload],
  );
  useEffect(() => {
    void reload();
  }, [reload]);
  return <Ctx.Provider value={{ items, error, reload, create }}>{children}</Ctx.Provider>;
}
