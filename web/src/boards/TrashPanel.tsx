// The board's trash: deleted cards and lists, who deleted them and when; Restore puts one back in its place.
import { useCallback } from "react";
import type { BoardActions } from "./useBoard";
import { ItemsPanel, when } from "./BoardMenu";
import { boardTrash, type TrashItem } from "./trash";

interface Props {
  boardId: string;
  version: number;
  actions: BoardActions;
  close(): void;
}

export function TrashPanel({ boardId, version, actions, close }: Props) {
  const load = useCallback((q: string, cursor: string | null, signal: AbortSignal) => boardTrash(boardId, q, cursor, signal), [boardId]);
  const restore = (item: TrashItem) => (item.kind === "card" ? actions.restoreCard(item.id) : actions.restoreList(item.id));
  return (
    <ItemsPanel<TrashItem>
      title="Trash" nothing="in the trash" version={version} load={load} restore={restore} close={close}
      row={(item, put) => (
        <>
          <div className="grow">
            <strong>{item.name}</strong>
            <span className="muted">
              {item.kind === "list" ? " · list, with its cards" : item.list_name ? ` · card in ${item.list_name}` : " · card"}
              {" · deleted "}{item.deleted_by ? `by ${item.deleted_by.name} ` : ""}{when(item.deleted_at)}
            </span>
            {item.list_in_trash && <p className="muted">Its list is in the trash: restore “{item.list_name}” first.</p>}
          </div>
          <button aria-label={`Restore ${item.name}`} disabled={item.list_in_trash} onClick={put}>Restore</button>
        </>
      )}
    />
  );
}
