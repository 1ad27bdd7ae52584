// The board's archived items: archived cards and lists; Restore puts one back on the board.
import { useCallback } from "react";
import type { BoardActions } from "./useBoard";
import { ItemsPanel, when } from "./BoardMenu";
import { boardArchive, type ArchivedItem } from "./trash";

interface Props {
  boardId: string;
  version: number;
  canEdit: boolean;
  actions: BoardActions;
  close(): void;
}

export function ArchivePanel({ boardId, version, canEdit, actions, close }: Props) {
  const load = useCallback((q: string, cursor: string | null, signal: AbortSignal) => boardArchive(boardId, q, cursor, signal), [boardId]);
  const restore = (item: ArchivedItem) =>
    item.kind === "card" ? actions.updateCard(item.id, { archived: false }, "restore the card") : actions.unarchiveList(item.id);
  return (
    <ItemsPanel<ArchivedItem>
      title="Archived items" nothing="archived" version={version} load={load} restore={restore} close={close}
      row={(item, put) => (
        <>
          <div className="grow">
            <strong>{item.name}</strong>
            <span className="muted">
              {item.kind === "list" ? " · list" : item.list_name ? ` · card in ${item.list_name}` : " · card"}
              {" · archived "}{when(item.updated_at)}
            </span>
            {item.list_archived && <p className="muted">Its list “{item.list_name}” is archived too: it shows once the list is back.</p>}
          </div>
          {canEdit && <button aria-label={`Restore ${item.name}`} onClick={put}>Restore</button>}
        </>
      )}
    />
  );
}
