// The card dialog: title, markdown description, labels, attachments (files dropped on it are attached),
// assignees, dates, checklists, comments, activity.
import { useCallback, useEffect, useRef, useState } from "react";
import { api, unwrap, type Card, type CardDetail } from "../api/client";
import type { BoardData } from "../boards/state";
import type { BoardActions } from "../boards/useBoard";
import { Avatar } from "../ui/avatar";
import { Failed, Loading, PALETTE, colorProps } from "../ui/states";
import { useDialogFocus } from "../ui/dialog";
import { useToast } from "../ui/toast";
import { Attachments } from "./Attachments";
import { Checklists } from "./Checklists";
import { Activity, Comments } from "./Comments";
import { Markdown } from "./Markdown";
import { useFileDrop } from "./uploads";

interface Props {
  cardId: string;
  board: BoardData;
  boardCard: Card | undefined;
  actions: BoardActions;
  canEdit: boolean;
  upload: (cardId: string, files: File[]) => void;
  close: () => void;
}

/** datetime-local value in the browser's zone. */
function toLocalInput(iso: string | null | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function CardDialog({ cardId, board, boardCard, actions, canEdit, upload, close }: Props) {
  const toast = useToast();
  const [detail, setDetail] = useState<CardDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const card: Card | null = boardCard ?? detail;
  const [title, setTitle] = useState("");
  const [editingDesc, setEditingDesc] = useState(false);
  const [desc, setDesc] = useState("");
  const [newLabel, setNewLabel] = useState({ name: "", color: "green" });
  const dialog = useRef<HTMLDivElement>(null);
  const onFiles = useCallback((files: File[]) => upload(cardId, files), [upload, cardId]);
  const drop = useFileDrop(canEdit ? onFiles : undefined);

  const latest = useRef(0);
  const edits = useRef(0);
  const editDetail = (f: (d: CardDetail | null) => CardDetail | null) => {
    edits.current += 1;
    setDetail(f);
  };
  useEffect(() => {
    const seq = ++latest.current; // answers can overtake each other: only the newest request counts
    const editsBefore = edits.current;
    unwrap(api.GET("/api/v1/cards/{card_id}", { params: { path: { card_id: cardId } } }))
      .then((d) => {
        // a checklist change made here after the request left is newer than this answer; the event
        // that change causes brings a fresh one
        if (seq === latest.current && edits.current === editsBefore) { setDetail(d); setError(null); }
      })
      .catch((err: Error & { status?: number }) => setError(err.status === 404 ? "This card does not exist, or you have no access to it." : err.message));
  }, [cardId, boardCard?.checklist_total, boardCard?.checklist_done]);

  useEffect(() => setTitle(card?.title ?? ""), [card?.title]);

  useDialogFocus(dialog, close);

  const call = async <T,>(p: Promise<T>, what: string): Promise<T | null> => {
    try {
      return await p;
    } catch (err) {
      toast.error(`Could not ${what}: ${(err as Error).message}`);
      return null;
    }
  };

  const toggleLabel = async (labelId: string, on: boolean) => {
    const path = { params: { path: { card_id: cardId, label_id: labelId } } };
    const out = await call(unwrap(on ? api.POST("/api/v1/cards/{card_id}/labels/{label_id}", path) : api.DELETE("/api/v1/cards/{card_id}/labels/{label_id}", path)), "change the labels");
    if (out) actions.upsertCards([out]);
  };

  const toggleAssignee = async (userId: string, on: boolean) => {
    const path = { params: { path: { card_id: cardId, user_id: userId } } };
    const out = await call(unwrap(on ? api.POST("/api/v1/cards/{card_id}/assignees/{user_id}", path) : api.DELETE("/api/v1/cards/{card_id}/assignees/{user_id}", path)), "change the assignees");
    if (out) actions.upsertCards([out]);
  };

  const createLabel = async () => {
    const label = await call(unwrap(api.POST("/api/v1/boards/{board_id}/labels", { params: { path: { board_id: board.board.id } }, body: newLabel })), "create the label");
    if (label) {
      setNewLabel({ name: "", color: "green" });
      await toggleLabel(label.id, true);
    }
  };

  const saveTitle = () => {
    const t = title.trim();
    if (card && t && t !== card.title) void actions.updateCard(cardId, { title: t }, "rename the card");
    else setTitle(card?.title ?? "");
  };

  const people = board.members.map((m) => ({ id: m.user.id, name: m.user.name, email: m.user.email }));
  const list = board.lists.find((l) => l.id === card?.list_id);

  return (
    <div className="modal-backdrop" onMouseDown={(e) => e.target === e.currentTarget && close()}>
      <div className={`modal card-dialog${drop.dropping ? " drop-target" : ""}`} role="dialog" aria-modal="true" aria-label={card ? `Card ${card.title}` : "Card"} ref={dialog} tabIndex={-1} {...drop.handlers}>
        <button className="icon close" aria-label="Close" onClick={close}>×</button>
        {drop.dropping && <div className="drop-hint" aria-hidden="true">Drop files to attach them to this card</div>}
        {error ? <Failed message={error} /> : !card ? <Loading what="the card" /> : (
          <>
            <header>
              <textarea className="card-title-input" aria-label="Title" rows={1} maxLength={512} readOnly={!canEdit} value={title}
                onChange={(e) => setTitle(e.target.value.replace(/\n/g, " "))} onBlur={saveTitle}
                onKeyDown={(e) => { if (e.key === "Enter") { e.preventDefault(); (e.target as HTMLTextAreaElement).blur(); } }} />
              <p className="muted">
                in list{" "}
                {canEdit ? (
                  <select aria-label="Move to list" value={card.list_id} onChange={(e) => void actions.moveCard(cardId, e.target.value, Number.MAX_SAFE_INTEGER)}>
                    {[...board.lists].sort((a, b) => (a.position < b.position ? -1 : 1)).map((l) => <option key={l.id} value={l.id}>{l.name}</option>)}
                  </select>
                ) : <strong>{list?.name}</strong>}
                {" · "}<a href={`/b/${board.board.id}/c/${cardId}`} onClick={(e) => { e.preventDefault(); void navigator.clipboard?.writeText(window.location.origin + `/b/${board.board.id}/c/${cardId}`).then(() => toast.info("Link copied")); }}>Copy link</a>
              </p>
            </header>
            <div className="card-body">
              <div className="card-main">
                <section aria-label="Labels">
                  <h3>Labels</h3>
                  <div className="chips">
                    {board.labels.map((l) => {
                      const on = (card.label_ids ?? []).includes(l.id);
                      const c = colorProps(l.color);
                      return (
                        <button key={l.id} className={`label-chip big ${c.className}${on ? " on" : " off"}`} style={c.style} aria-pressed={on} disabled={!canEdit} onClick={() => void toggleLabel(l.id, !on)}>
                          {l.name || l.color}{on ? " ✓" : ""}
                        </button>
                      );
                    })}
                  </div>
                  {canEdit && (
                    <div className="row small">
                      <input aria-label="New label name" placeholder="New label" maxLength={100} value={newLabel.name} onChange={(e) => setNewLabel({ ...newLabel, name: e.target.value })} />
                      <select aria-label="New label colour" value={newLabel.color} onChange={(e) => setNewLabel({ ...newLabel, color: e.target.value })}>
                        {PALETTE.map((p) => <option key={p}>{p}</option>)}
                      </select>
                      <button onClick={() => void createLabel()}>Add label</button>
                    </div>
                  )}
                </section>
                <section aria-label="Description">
                  <h3>Description {canEdit && !editingDesc && <button className="link" aria-label="Edit description" onClick={() => { setDesc(card.description); setEditingDesc(true); }}>Edit</button>}</h3>
                  {editingDesc ? (
                    <div>
                      <textarea className="desc-input" aria-label="Description (markdown)" autoFocus maxLength={65536} rows={8} value={desc} onChange={(e) => setDesc(e.target.value)} />
                      <div className="row">
                        <button className="primary" onClick={() => { setEditingDesc(false); void actions.updateCard(cardId, { description: desc }, "save the description"); }}>Save</button>
                        <button className="link" onClick={() => setEditingDesc(false)}>Cancel</button>
                      </div>
                    </div>
                  ) : card.description ? (
                    <Markdown text={card.description} className="description" />
                  ) : (
                    <p className="muted">No description.</p>
                  )}
                </section>
                <Attachments card={card} items={board.attachments[cardId]} members={board.members} actions={actions} canEdit={canEdit} upload={upload} />
                <Checklists cardId={cardId} detail={detail} setDetail={editDetail} canEdit={canEdit} />
                <Comments cardId={cardId} count={card.comment_count ?? 0} people={people} canComment={board.role !== "viewer"} />
              </div>
              <aside className="card-side">
                <section aria-label="Assignees">
                  <h3>Assignees</h3>
                  <ul className="assignees">
                    {board.members.map((m) => {
                      const on = (card.assignee_ids ?? []).includes(m.user.id);
                      return (
                        <li key={m.user.id}>
                          <button className={`person${on ? " on" : ""}`} aria-pressed={on} disabled={!canEdit} onClick={() => void toggleAssignee(m.user.id, !on)}>
                            <Avatar id={m.user.id} name={m.user.name} decorative /> {m.user.name}{on ? " ✓" : ""}
                          </button>
                        </li>
                      );
                    })}
                  </ul>
                </section>
                <section aria-label="Dates">
                  <h3>Due date</h3>
                  <input type="datetime-local" aria-label="Due date" disabled={!canEdit} value={toLocalInput(card.due_at)}
                    onChange={(e) => void actions.updateCard(cardId, { due_at: e.target.value ? new Date(e.target.value).toISOString() : null }, "set the due date")} />
                  <label className="check">
                    <input type="checkbox" disabled={!canEdit} checked={card.completed} onChange={(e) => void actions.updateCard(cardId, { completed: e.target.checked }, "mark the card")} /> Complete
                  </label>
                </section>
                {canEdit && (
                  <section aria-label="Actions" className="card-actions">
                    <h3>Actions</h3>
                    <button onClick={() => { void actions.archiveCard(cardId); close(); }}>Archive</button>
                    <button className="danger" onClick={() => { void actions.deleteCard(cardId); close(); }}>Delete</button>
                  </section>
                )}
                <Activity cardId={cardId} version={board.version} people={board.members} />
              </aside>
            </div>
          </>
        )}
      </div>
    </div>
  );
}
