// Comments (markdown, @mentions) and the card's activity feed.
import { useCallback, useEffect, useState } from "react";
import { api, unwrap, type BoardEvent, type BoardMember, type Comment } from "../api/client";
import { useSession } from "../auth/session";
import { Avatar } from "../ui/avatar";
import { useToast } from "../ui/toast";
import { Markdown } from "./Markdown";
import { MentionBox } from "./MentionBox";
import type { Person } from "./mentions";

function when(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

export function Comments({ cardId, count, people, canComment }: { cardId: string; count: number; people: Person[]; canComment: boolean }) {
  const { user } = useSession();
  const toast = useToast();
  const [comments, setComments] = useState<Comment[] | null>(null);
  const [body, setBody] = useState("");
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
      const c = await unwrap(api.POST("/api/v1/cards/{card_id}/comments", { params: { path: { card_id: cardId } }, body: { body: text } }));
      setComments((all) => [...(all ?? []).filter((x) => x.id !== c.id), c]);
      setBody("");
    } catch (err) {
      toast.error(`Could not post the comment (your text is kept): ${(err as Error).message}`);
    } finally {
      setSending(false);
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
                {c.author_id === user?.id && <button className="link danger" onClick={() => void remove(c)}>Delete</button>}
              </div>
              <Markdown text={c.body} className="comment-body" />
            </div>
          </li>
        ))}
        {comments !== null && comments.length === 0 && <li className="muted">No comments yet.</li>}
      </ul>
    </section>
  );
}

const VERBS: Record<string, string> = {
  "card.created": "created this card",
  "card.moved": "moved this card",
  "card.assignee_added": "assigned someone",
  "card.assignee_removed": "unassigned someone",
  "card.label_added": "added a label",
  "card.label_removed": "removed a label",
  "checklist.created": "added a checklist",
  "checklist_item.created": "added a checklist item",
  "checklist_item.deleted": "removed a checklist item",
  "comment.created": "commented",
  "comment.updated": "edited a comment",
  "comment.deleted": "deleted a comment",
};

/** One line of activity in words. */
export function describe(e: BoardEvent): string {
  const p = e.payload as { changes?: string[]; attachment?: { filename?: string }; filename?: string };
  const changes = p.changes;
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
            <strong>{names.get(e.actor_id ?? "") ?? "Someone"}</strong> {describe(e)} <span className="muted">{when(e.created_at)}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}
