// One list: header (rename, archive or delete after a confirmation), its cards as a sortable column, inline "add a card".
import { useDroppable } from "@dnd-kit/core";
import { SortableContext, useSortable, verticalListSortingStrategy } from "@dnd-kit/sortable";
import { CSS } from "@dnd-kit/utilities";
import { memo, useEffect, useRef, useState, type FormEvent } from "react";
import type { BoardMember, Card, Label, List } from "../api/client";
import type { BoardActions } from "./useBoard";
import { CardTile } from "./CardTile";
import { isTemporary } from "./ordering";

/** Cards mounted per list at first; more as the list is scrolled (big boards stay quick to open). */
export const PAGE = 25;

/** "Show more": pressed by hand, or by itself when scrolled into view. */
function MoreCards({ count, more }: { count: number; more: () => void }) {
  const ref = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el || typeof IntersectionObserver === "undefined") return;
    const io = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && more(), { rootMargin: "200px" });
    io.observe(el);
    return () => io.disconnect();
  }, [more]);
  return (
    <li className="more-cards">
      <button ref={ref} className="link" onClick={more}>Show {Math.min(count, PAGE)} more of {count}</button>
    </li>
  );
}

interface Props {
  list: List;
  cards: Card[];
  labels: Map<string, Label>;
  people: Map<string, BoardMember>;
  actions: BoardActions;
  open: (cardId: string) => void;
  canEdit: boolean;
  dragDisabled: boolean;
  hiddenCount: number;
  upload?: (cardId: string, files: File[]) => void;
}

export const Column = memo(function Column({ list, cards, labels, people, actions, open, canEdit, dragDisabled, hiddenCount, upload }: Props) {
  const pending = isTemporary(list.id); // being created: cards can be added once the server has it
  const sortable = useSortable({ id: `list:${list.id}`, data: { type: "list" }, disabled: !canEdit || pending });
  const drop = useDroppable({ id: `col:${list.id}`, data: { type: "column", listId: list.id } });
  const [adding, setAdding] = useState(false);
  const [title, setTitle] = useState("");
  const [renaming, setRenaming] = useState(false);
  const [limit, setLimit] = useState(PAGE);
  const visible = cards.length > limit ? cards.slice(0, limit) : cards;
  const [name, setName] = useState(list.name);
  // archiving or deleting a list takes a second, deliberate press (and then a toast offers Undo)
  const [confirming, setConfirming] = useState(false);

  function add(e: FormEvent) {
    e.preventDefault();
    const t = title.trim();
    if (!t) return;
    setTitle("");
    void actions.createCard(list.id, t);
  }

  function rename(e?: FormEvent) {
    e?.preventDefault();
    setRenaming(false);
    if (name.trim() && name.trim() !== list.name) void actions.renameList(list.id, name.trim());
  }

  return (
    <section
      ref={sortable.setNodeRef}
      style={{ transform: CSS.Translate.toString(sortable.transform), transition: sortable.transition }}
      className={`column${sortable.isDragging ? " dragging" : ""}${pending ? " pending" : ""}`}
      data-testid="list"
      data-list-name={list.name}
      aria-label={`List ${list.name}`}
    >
      <header className="column-head">
        {renaming ? (
          <form onSubmit={rename} className="grow">
            <input autoFocus aria-label="List name" maxLength={200} value={name} onChange={(e) => setName(e.target.value)} onBlur={() => rename()} onKeyDown={(e) => e.key === "Escape" && setRenaming(false)} />
          </form>
        ) : (
          <h2
            className="column-title grow"
            {...sortable.attributes}
            {...sortable.listeners}
            aria-roledescription="list"
            aria-label={`${list.name}: press Space to pick up the list, Enter to rename`}
            onDoubleClick={() => canEdit && (setName(list.name), setRenaming(true))}
            onKeyDown={(e) => {
              if (e.key === "Enter" && canEdit) {
                setName(list.name);
                setRenaming(true);
              } else sortable.listeners?.onKeyDown?.(e);
            }}
          >
            {list.name}
          </h2>
        )}
        <span className="count" title="Cards">{cards.length}</span>
        {canEdit && !pending && (
          <button className="icon" aria-label={`Archive or delete list ${list.name}`} title="Archive or delete list"
            aria-expanded={confirming} onClick={() => setConfirming(!confirming)}>
            ⌫
          </button>
        )}
      </header>
      {confirming && (
        <div className="list-confirm" role="group" aria-label={`Archive or delete list ${list.name}`}
          onKeyDown={(e) => e.key === "Escape" && setConfirming(false)}>
          <p>Take “{list.name}” and its cards off the board? Archived lists wait under Archived items, deleted ones in the Trash.</p>
          <div className="row">
            <button className="primary" autoFocus onClick={() => { setConfirming(false); void actions.archiveList(list.id); }}>Archive list</button>
            <button className="danger" onClick={() => { setConfirming(false); void actions.deleteList(list.id); }}>Delete list</button>
            <button className="link" onClick={() => setConfirming(false)}>Cancel</button>
          </div>
        </div>
      )}
      <SortableContext items={visible.map((c) => `card:${c.id}`)} strategy={verticalListSortingStrategy}>
        <ol ref={drop.setNodeRef} className={`cards${drop.isOver ? " over" : ""}`}>
          {visible.map((card) => (
            <CardTile key={card.id} card={card} labels={labels} people={people} open={open} disabled={dragDisabled} upload={canEdit ? upload : undefined} />
          ))}
          {visible.length < cards.length && <MoreCards count={cards.length - visible.length} more={() => setLimit(limit + PAGE)} />}
          {cards.length === 0 && <li className="cards-empty">{hiddenCount ? `${hiddenCount} hidden by filters` : "No cards"}</li>}
        </ol>
      </SortableContext>
      {canEdit && !pending &&
        (adding ? (
          <form className="add-card" onSubmit={add}>
            <textarea
              autoFocus
              aria-label="Card title"
              placeholder="Enter a title for this card…"
              maxLength={512}
              value={title}
              onChange={(e) => setTitle(e.target.value)}
              onKeyDown={(e) => {
                if (e.key === "Enter" && !e.shiftKey) add(e);
                if (e.key === "Escape") setAdding(false);
              }}
            />
            <div className="row">
              <button className="primary" type="submit">Add card</button>
              <button type="button" className="link" onClick={() => setAdding(false)}>Cancel</button>
            </div>
          </form>
        ) : (
          <button className="add-card-open" onClick={() => setAdding(true)}>+ Add a card</button>
        ))}
    </section>
  );
});
