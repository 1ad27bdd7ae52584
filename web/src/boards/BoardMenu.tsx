// The board menu (issue 25): the board's archived items and its trash, each in a panel with search and Restore.
import { useEffect, useRef, useState, type ReactNode } from "react";
import { useDialogFocus } from "../ui/dialog";
import { Empty, Failed, Loading } from "../ui/states";
import type { Page } from "./trash";

export type BoardPanel = "archive" | "trash";

/** The menu button in the board's header; the Trash is for those who may edit (editors and admins). */
export function BoardMenu({ canEdit, open }: { canEdit: boolean; open(panel: BoardPanel): void }) {
  const [shown, setShown] = useState(false);
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!shown) return;
    const away = (e: MouseEvent) => !box.current?.contains(e.target as Node) && setShown(false);
    document.addEventListener("mousedown", away);
    return () => document.removeEventListener("mousedown", away);
  }, [shown]);
  const pick = (panel: BoardPanel) => {
    setShown(false);
    open(panel);
  };
  return (
    <div className="board-menu" ref={box} onKeyDown={(e) => e.key === "Escape" && setShown(false)}>
      <button className="pill" aria-haspopup="menu" aria-expanded={shown} onClick={() => setShown(!shown)}>Board menu</button>
      {shown && (
        <div className="menu" role="menu" aria-label="Board menu">
          <button role="menuitem" autoFocus onClick={() => pick("archive")}>Archived items</button>
          {canEdit && <button role="menuitem" onClick={() => pick("trash")}>Trash</button>}
        </div>
      )}
    </div>
  );
}

interface PanelProps<T extends { id: string }> {
  title: string;
  /** What the list is empty of, said when nothing is there (or nothing matches). */
  nothing: string;
  /** The board's version: the panel reloads when the board changes (another window restores or deletes). */
  version: number;
  load(q: string, cursor: string | null, signal: AbortSignal): Promise<Page<T>>;
  row(item: T, restore: () => void): ReactNode;
  restore(item: T): Promise<boolean>;
  close(): void;
}

/** A dialog listing items newest first, with a title search, "Show more", and Restore on each. */
export function ItemsPanel<T extends { id: string }>({ title, nothing, version, load, row, restore, close }: PanelProps<T>) {
  const dialog = useRef<HTMLDivElement>(null);
  const [q, setQ] = useState("");
  const [page, setPage] = useState<Page<T> | null>(null);
  const [error, setError] = useState<string | null>(null);
  useDialogFocus(dialog, close);

  useEffect(() => {
    const abort = new AbortController();
    load(q.trim(), null, abort.signal)
      .then((first) => { setPage(first); setError(null); })
      .catch((err: Error) => !abort.signal.aborted && setError(err.message));
    return () => abort.abort();
  }, [q, version, load]);

  async function more() {
    if (!page?.next_cursor) return;
    try {
      const next = await load(q.trim(), page.next_cursor, new AbortController().signal);
      setPage({ items: [...page.items, ...next.items], next_cursor: next.next_cursor });
    } catch (err) {
      setError((err as Error).message);
    }
  }

  async function put(item: T) {
    if (await restore(item)) setPage((p) => p && { ...p, items: p.items.filter((x) => x.id !== item.id) });
  }

  return (
    <div className="modal-backdrop" onMouseDown={(e) => e.target === e.currentTarget && close()}>
      <div className="modal board-panel" role="dialog" aria-modal="true" aria-label={title} ref={dialog} tabIndex={-1}>
        <button className="icon close" aria-label="Close" onClick={close}>×</button>
        <h2>{title}</h2>
        <input type="search" aria-label={`Search ${title.toLowerCase()}`} placeholder="Search by title" maxLength={200}
          value={q} onChange={(e) => setQ(e.target.value)} />
        {error ? <Failed message={error} /> : page === null ? <Loading what={title.toLowerCase()} /> : page.items.length === 0 ? (
          <Empty>{q.trim() ? `Nothing ${nothing} matches “${q.trim()}”.` : `Nothing is ${nothing}.`}</Empty>
        ) : (
          <ul className="panel-items" aria-label={title}>
            {page.items.map((item) => <li key={item.id} data-testid="panel-item">{row(item, () => void put(item))}</li>)}
          </ul>
        )}
        {page?.next_cursor && <button className="link" onClick={() => void more()}>Show more</button>}
      </div>
    </div>
  );
}

export function when(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}
