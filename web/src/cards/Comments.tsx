// Comments (markdown, @mentions) and the card's activity feed.
import { useCallback, useEffect, useState } from "react";
import { api, unwrap, type BoardEvent, type BoardMember, type Comment } from "../api/client";
import { useSession } from "../auth/session";
import { Avatar } from "../ui/avatar";
import { useDraft } from "../ui/drafts";
import { useToast } from "../ui/toast";
import { Markdown } from "./Markdown";
import { MentionBox } from "./MentionBox";
import { mentionedIds, type Person } from "./mentions";

function when(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

export function Comments({ cardId, count, people, canComment }: { cardId: string; count: number; people: Person[]; canComment: boolean }) {
  const { user } = useSession();
  const toast = useToast();
  const [comments, setComments] = useState<Comment[] | null>(null);
  // kept in sessionStorage: a lost session, a reload or a closed dialog does not lose what was typed
  const [body, setBody, clearBody] = useDraft(`card:${cardId}:comment`);
  const [editing, setEditing] = useState<{ id: string; body: string } | null>(null);
  const [sending, setSending] = useState(false);
  const names = new Map(people.map((p) => [p.id, p.name]));

  const load = useCallback(async () => {
    try {
      const all: Comment[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 10; page++) {
        const out = await unwrap(api.GET("/api/v1/cards/{card_id}/comments", { params: { path: { card_id: cardId }, query: { limit: 100, cursor } } }));
        all.push(...out.items);
        if (!out.next_cursor) break;
        cursor = out.next_cursor;
      }
      setComments(all.filter((c) => !c.deleted_at));
    } catch (err) {
      toast.error(`Could not load comments: ${(err as Error).message}`);
    }
  }, [cardId, toast]);

  useEffect(() => void load(), [load, count]); // others' comments change the count

  async function send() {
    const text = body.trim();
    if (!text || sending) return;
    setSending(true);
    try {
      const c = await unwrap(api.POST("/api/v1/cards/{card_id}/comments", { params: { path: { card_id: cardId } }, body: withMentions(text, people) }));
      setComments((all) => [...(all ?? []).filter((x) => x.id !== c.id), c]);
      clearBody();
    } catch (err) {
      toast.error(`Could not post the comment (your text is kept): ${(err as Error).message}`);
    } finally {
      setSending(false);
    }
  }

  async function saveEdit() {
    const text = editing?.body.trim();
    if (!editing || !text) return;
    try {
      const c = await unwrap(api.PATCH("/api/v1/comments/{comment_id}", { params: { path: { comment_id: editing.id } }, body: withMentions(text, people) }));
      setComments((all) => (all ?? []).map((x) => (x.id === c.id ? c : x)));
      setEditing(null);
    } catch (err) {
      toast.error(`Could not save the comment (your text is kept): ${(err as Error).message}`);
    }
  }

  async function remove(c: Comment) {
    try {
      await unwrap(api.DELETE("/api/v1/comments/{comment_id}", { params: { path: { comment_id: c.id } } }));
      setComments((all) => (all ?? []).filter((x) => x.id !== c.id));
    } catch (err) {
      toast.error(`Could not delete the comment: ${(err as Error).message}`);
    }
  }

  return (
    <section aria-label="Comments">
      <h3>Comments</h3>
      {canComment && (
        <div className="composer">
          <MentionBox people={people} value={body} onChange={setBody} onSubmit={() => void send()} label="Comment" />
          <button className="primary" disabled={!body.trim() || sending} onClick={() => void send()}>Comment</button>
        </div>
      )}
      <ul className="comments">
        {(comments ?? []).map((c) => (
          <li key={c.id} className="comment" data-testid="comment">
            <Avatar id={c.author_id ?? "?"} name={names.get(c.author_id ?? "") ?? "Former member"} />
            <div className="grow">
              <div className="comment-meta">
                <strong>{names.get(c.author_id ?? "") ?? "Former member"}</strong> <span className="muted">{when(c.created_at)}{c.edited_at ? " (edited)" : ""}</span>
                {(c.mentions ?? []).length > 0 && <span className="muted"> · mentions {(c.mentions ?? []).map((id) => names.get(id) ?? "someone").join(", ")}</span>}
                {c.author_id === user?.id && editing?.id !== c.id && (
                  <>
                    <button className="link" onClick={() => setEditing({ id: c.id, body: c.body })}>Edit</button>
                    <button className="link danger" onClick={() => void remove(c)}>Delete</button>
                  </>
                )}
              </div>
              {editing?.id === c.id ? (
                <div className="composer comment-edit">
                  <MentionBox people={people} value={editing.body} onChange={(v) => setEditing({ id: c.id, body: v })}
                    onSubmit={() => void saveEdit()} onCancel={() => setEditing(null)} label="Edit comment" autoFocus />
                  <div className="row">
                    <button className="primary" disabled={!editing.body.trim()} onClick={() => void saveEdit()}>Save</button>
                    <button onClick={() => setEditing(null)}>Cancel</button>
                  </div>
                </div>
              ) : (
                <Markdown text={c.body} className="comment-body" />
              )}
            </div>
          </li>
        ))}
        {comments !== null && comments.length === 0 && <li className="muted">No comments yet.</li>}
      </ul>
    </section>
  );
}

/** A comment's body with the people its @Names stand for (the server also reads @e-mail handles itself). */
function withMentions(text: string, people: Person[]): { body: string } {
  // `mentions` joins the typed body once the API schema is regenerated (make api-types)
  const body = { body: text, mentions: mentionedIds(text, people) };
  return body;
}

const VERBS: Record<string, string> = {
  "card.created": "created this card",
  "card.moved": "moved this card",
  "card.label_added": "added a label",
  "card.label_removed": "removed a label",
  "checklist.created": "added a checklist",
  "checklist_item.created": "added a checklist item",
  "checklist_item.deleted": "removed a checklist item",
  "comment.created": "commented",
  "comment.updated": "edited a comment",
  "comment.deleted": "deleted a comment",
};

/** One line of activity in words; `names` maps user ids to names (for who was assigned). */
export function describe(e: BoardEvent, names: Map<string, string> = new Map()): string {
  const p = e.payload as { changes?: string[]; attachment?: { filename?: string }; filename?: string; user_id?: string };
  const changes = p.changes;
  if (e.type === "card.assignee_added" || e.type === "card.assignee_removed") {
    const who = p.user_id && p.user_id === e.actor_id ? "themselves" : names.get(p.user_id ?? "") ?? "a former member";
    return `${e.type === "card.assignee_added" ? "assigned" : "unassigned"} ${who}`;
  }
  if (e.type === "card.updated") {
    const what = (changes ?? ["the card"]).map((c) => (c === "cover_attachment_id" ? "the cover" : c));
    return `changed ${what.join(", ").replace(/_at\b/g, " date")}`;
  }
  if (e.type === "attachment.created") return `attached “${p.attachment?.filename ?? "a file"}”`;
  if (e.type === "attachment.deleted") return `deleted the attachment “${p.filename ?? "a file"}”`;
  if (e.type === "checklist_item.updated") return changes?.includes("done") ? "ticked a checklist item" : "edited a checklist item";
  return VERBS[e.type] ?? e.type.replace(/[._]/g, " ");
}

export function Activity({ cardId, version, people }: { cardId: string; version: number; people: BoardMember[] }) {
  const [events, setEvents] = useState<BoardEvent[] | null>(null);
  useEffect(() => {
    const t = setTimeout(() => {
      unwrap(api.GET("/api/v1/cards/{card_id}/activity", { params: { path: { card_id: cardId }, query: { limit: 50 } } }))
        .then(setEvents)
        .catch(() => setEvents((e) => e ?? []));
    }, 150); // a burst of events reloads once
    return () => clearTimeout(t);
  }, [cardId, version]);
  const names = new Map(people.map((m) => [m.user.id, m.user.name]));
  return (
    <section aria-label="Activity">
      <h3>Activity</h3>
      <ul className="activity">
        {(events ?? []).map((e) => (
          <li key={e.id}>
            <strong>{names.get(e.actor_id ?? "") ?? "Someone"}</strong> {describe(e, names)} <span className="muted">{when(e.created_at)}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}
