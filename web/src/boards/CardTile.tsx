// A card on the board: labels, title, due badge, checklist progress, comment count, assignees.
import { useSortable } from "@dnd-kit/sortable";
import { CSS } from "@dnd-kit/utilities";
import { memo } from "react";
import type { BoardMember, Card, Label } from "../api/client";
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
}

export const CardTile = memo(function CardTile({ card, labels, people, open, disabled }: Props) {
  const { attributes, listeners, setNodeRef, transform, transition, isDragging } = useSortable({
    id: `card:${card.id}`,
    data: { type: "card", listId: card.list_id },
    disabled: disabled || isTemporary(card.id),
  });
  const pending = isTemporary(card.id);
  return (
    <li
      ref={setNodeRef}
      style={{ transform: CSS.Translate.toString(transform), transition }}
      className={`card-tile${isDragging ? " dragging" : ""}${pending ? " pending" : ""}`}
      data-testid="card"
      data-card-id={card.id}
      {...attributes}
      {...listeners}
      aria-roledescription="card"
      aria-label={`${card.title}. Press Enter to open, Space to pick up and move with the arrow keys.`}
      onClick={() => !pending && open(card.id)}
      onKeyDown={(e) => {
        if (e.key === "Enter" && !pending) open(card.id);
        else listeners?.onKeyDown?.(e);
      }}
    >
      <CardFace card={card} labels={labels} people={people} />
    </li>
  );
});

// The tile's content, memoised apart from the drag wrapper: every pointer press re-renders all
// sortable wrappers (dnd-kit's context changes), and this keeps that cheap on big boards.
const CardFace = memo(function CardFace({ card, labels, people }: Pick<Props, "card" | "labels" | "people">) {
  const due = dueState(card);
  return (
    <>
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
        <span className="spacer" />
        {(card.assignee_ids ?? []).map((id) => {
          const p = people.get(id);
          return <Avatar key={id} id={id} name={p?.user.name ?? "?"} />;
        })}
      </div>
    </>
  );
});
