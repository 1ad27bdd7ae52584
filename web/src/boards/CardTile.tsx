// A card on the board: cover, labels, title, due badge, checklist progress, comment and attachment counts,
// assignees; files dropped on it are attached to it.
import { useSortable } from "@dnd-kit/sortable";
import { CSS } from "@dnd-kit/utilities";
import { memo, useCallback } from "react";
import { thumbnailUrl } from "../api/attachments";
import type { BoardMember, Card, Label } from "../api/client";
import { useCardUploads, useFileDrop } from "../cards/uploads";
import { Avatar } from "../ui/avatar";
import { colorProps } from "../ui/states";
import { dueState } from "./filters";
import { isTemporary } from "./ordering";

const DUE_TEXT = { done: "Done", overdue: "Overdue", soon: "Due soon", later: "Due" } as const;

// one formatter for every badge: toLocaleDateString builds a new one per call, which adds up on big boards
const dueFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });

export function formatDue(iso: string): string {
  return dueFormat.format(new Date(iso));
}

interface Props {
  card: Card;
  labels: Map<string, Label>;
  people: Map<string, BoardMember>;
  open: (cardId: string) => void;
  disabled: boolean;
  /** Attach files to a card; absent when the user may not edit. */
  upload?: (cardId: string, files: File[]) => void;
}

export const CardTile = memo(function CardTile({ card, labels, people, open, disabled, upload }: Props) {
  const { attributes, listeners, setNodeRef, transform, transition, isDragging } = useSortable({
    id: `card:${card.id}`,
    data: { type: "card", listId: card.list_id },
    disabled: disabled || isTemporary(card.id),
  });
  const pending = isTemporary(card.id);
  const onFiles = useCallback((files: File[]) => upload?.(card.id, files), [upload, card.id]);
  const drop = useFileDrop(upload && !pending ? onFiles : undefined);
  const running = useCardUploads(card.id);
  return (
    <li
      ref={setNodeRef}
      style={{ transform: CSS.Translate.toString(transform), transition }}
      className={`card-tile${isDragging ? " dragging" : ""}${pending ? " pending" : ""}${drop.dropping ? " drop-target" : ""}`}
      data-testid="card"
      data-card-id={card.id}
      {...attributes}
      {...listeners}
      {...drop.handlers}
      aria-roledescription="card"
      aria-label={`${card.title}. Press Enter to open, Space to pick up and move with the arrow keys.`}
      onClick={() => !pending && open(card.id)}
      onKeyDown={(e) => {
        if (e.key === "Enter" && !pending) open(card.id);
        else listeners?.onKeyDown?.(e);
      }}
    >
      <CardFace card={card} labels={labels} people={people} />
      {running.map((u) => (
        <progress key={u.id} className="tile-upload" max={100} value={u.percent} aria-label={`Uploading ${u.filename}`} title={`Uploading ${u.filename}`} />
      ))}
    </li>
  );
});

// The tile's content, memoised apart from the drag wrapper: every pointer press re-renders all
// sortable wrappers (dnd-kit's context changes), and this keeps that cheap on big boards.
const CardFace = memo(function CardFace({ card, labels, people }: Pick<Props, "card" | "labels" | "people">) {
  const due = dueState(card);
  return (
    <>
      {card.cover_attachment_id && <img className="card-cover" src={thumbnailUrl(card.cover_attachment_id)} alt="" loading="lazy" draggable={false} />}
      {card.label_ids && card.label_ids.length > 0 && (
        <div className="card-labels">
          {card.label_ids.map((id) => {
            const l = labels.get(id);
            if (!l) return null;
            const c = colorProps(l.color);
            return <span key={id} className={`label-chip ${c.className}`} style={c.style} title={l.name}>{l.name}</span>;
          })}
        </div>
      )}
      <div className="card-title">{card.title}</div>
      <div className="card-badges">
        {due && card.due_at && <span className={`badge due-${due}`} title={DUE_TEXT[due]}>{DUE_TEXT[due]} {formatDue(card.due_at)}</span>}
        {card.description && <span className="badge" title="Has a description">≡</span>}
        {(card.checklist_total ?? 0) > 0 && (
          <span className={`badge${card.checklist_done === card.checklist_total ? " done" : ""}`} title="Checklist items done">
            ☑ {card.checklist_done}/{card.checklist_total}
          </span>
        )}
        {(card.comment_count ?? 0) > 0 && (
          <span className="badge" title="Comments">
            <svg className="icon-svg" viewBox="0 0 16 16" aria-hidden="true"><path d="M2 3h12v8H6l-3 3v-3H2z" /></svg> {card.comment_count}
          </span>
        )}
        {(card.attachment_count ?? 0) > 0 && (
          <span className="badge" title="Attachments">
            <svg className="icon-svg" viewBox="0 0 16 16" aria-hidden="true"><path d="M13 7.5 8 12.5a3 3 0 0 1-4.3-4.3l5.2-5.2a2 2 0 0 1 2.9 2.9L6.6 11a1 1 0 0 1-1.4-1.4L10 4.8" /></svg> {card.attachment_count}
          </span>
        )}
        <span className="spacer" />
        {(card.assignee_ids ?? []).map((id) => {
          const p = people.get(id);
          return <Avatar key={id} id={id} name={p?.user.name ?? "?"} />;
        })}
      </div>
    </>
  );
});
