// Checklists on a card: progress, tick items, add checklists and items, remove items.
import { useState } from "react";
import { api, unwrap, type CardDetail, type ChecklistItem } from "../api/client";
import { useToast } from "../ui/toast";

interface Props {
  cardId: string;
  detail: CardDetail | null;
  setDetail: (f: (d: CardDetail | null) => CardDetail | null) => void;
  canEdit: boolean;
}

// Items added quickly one after another may be answered out of order: keep the server's order.
const byPosition = (list: ChecklistItem[]) => [...list].sort((a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : 0));

export function Checklists({ cardId, detail, setDetail, canEdit }: Props) {
  const toast = useToast();
  const [title, setTitle] = useState("");
  const [items, setItems] = useState<Record<string, string>>({});
  const checklists = detail?.checklists ?? [];

  const fail = (what: string) => (err: Error) => toast.error(`Could not ${what}: ${err.message}`);

  const patchItem = (item: ChecklistItem) =>
    setDetail((d) => d && { ...d, checklists: d.checklists!.map((c) => (c.id === item.checklist_id ? { ...c, items: (c.items ?? []).map((i) => (i.id === item.id ? item : i)) } : c)) });

  // The input is cleared as soon as the text is sent, so the next one can be typed at once; after a
  // failure the text comes back unless something new was typed meanwhile.
  async function addChecklist() {
    const text = title.trim();
    if (!text) return;
    setTitle("");
    await unwrap(api.POST("/api/v1/cards/{card_id}/checklists", { params: { path: { card_id: cardId } }, body: { title: text } }))
      .then((c) => setDetail((d) => d && { ...d, checklists: [...(d.checklists ?? []), c] }))
      .catch((err: Error) => { setTitle((now) => now || text); fail("add the checklist")(err); });
  }

  async function addItem(checklistId: string) {
    const text = (items[checklistId] ?? "").trim();
    if (!text) return;
    setItems((now) => ({ ...now, [checklistId]: "" }));
    await unwrap(api.POST("/api/v1/checklists/{checklist_id}/items", { params: { path: { checklist_id: checklistId } }, body: { text } }))
      .then((item) => setDetail((d) => d && { ...d, checklists: d.checklists!.map((c) => (c.id === checklistId ? { ...c, items: byPosition([...(c.items ?? []), item]) } : c)) }))
      .catch((err: Error) => { setItems((now) => (now[checklistId] ? now : { ...now, [checklistId]: text })); fail("add the item")(err); });
  }

  async function tick(item: ChecklistItem, done: boolean) {
    patchItem({ ...item, done });
    await unwrap(api.PATCH("/api/v1/checklist-items/{item_id}", { params: { path: { item_id: item.id } }, body: { done } }))
      .then(patchItem)
      .catch((err: Error) => { patchItem(item); fail("tick the item")(err); });
  }

  async function remove(item: ChecklistItem) {
    await unwrap(api.DELETE("/api/v1/checklist-items/{item_id}", { params: { path: { item_id: item.id } } }))
      .then(() => setDetail((d) => d && { ...d, checklists: d.checklists!.map((c) => ({ ...c, items: (c.items ?? []).filter((i) => i.id !== item.id) })) }))
      .catch(fail("remove the item"));
  }

  return (
    <section aria-label="Checklists">
      <h3>Checklists</h3>
      {checklists.map((c) => {
        const list = c.items ?? [];
        const done = list.filter((i) => i.done).length;
        return (
          <div key={c.id} className="checklist">
            <div className="checklist-head">
              <strong>{c.title}</strong>
              <span className="muted">{done}/{list.length}</span>
            </div>
            <progress max={Math.max(1, list.length)} value={done} aria-label={`${c.title} progress`} />
            <ul>
              {list.map((i) => (
                <li key={i.id} className={i.done ? "done" : ""}>
                  <label className="check">
                    <input type="checkbox" checked={i.done} disabled={!canEdit} onChange={(e) => void tick(i, e.target.checked)} /> {i.text}
                  </label>
                  {canEdit && <button className="icon" aria-label={`Remove ${i.text}`} onClick={() => void remove(i)}>×</button>}
                </li>
              ))}
            </ul>
            {canEdit && (
              <form className="row small" onSubmit={(e) => { e.preventDefault(); void addItem(c.id); }}>
                <input aria-label={`New item in ${c.title}`} placeholder="Add an item" maxLength={1000} value={items[c.id] ?? ""} onChange={(e) => setItems({ ...items, [c.id]: e.target.value })} />
                <button type="submit">Add</button>
              </form>
            )}
          </div>
        );
      })}
      {canEdit && (
        <form className="row small" onSubmit={(e) => { e.preventDefault(); void addChecklist(); }}>
          <input aria-label="New checklist title" placeholder="New checklist" maxLength={200} value={title} onChange={(e) => setTitle(e.target.value)} />
          <button type="submit">Add checklist</button>
        </form>
      )}
    </section>
  );
}
