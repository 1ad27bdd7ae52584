// A card's attachments in its dialog: previews, open and download links, cover, delete, and uploads with progress.
import { useEffect, useRef, useState } from "react";
import {
  contentUrl, deleteAttachment, formatBytes, isCoverable, listAttachments, maxUploadBytes, thumbnailUrl, type Attachment,
} from "../api/attachments";
import type { BoardMember, Card } from "../api/client";
import type { BoardActions } from "../boards/useBoard";
import { Failed, Loading } from "../ui/states";
import { useToast } from "../ui/toast";
import { useCardUploads } from "./uploads";

const when = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** "PDF", "ZIP", … for a file without a preview. */
function kind(a: Attachment): string {
  const ext = /\.([a-z0-9]{1,5})$/i.exec(a.filename)?.[1];
  return (ext ?? a.content_type.split("/").pop() ?? "file").slice(0, 5).toUpperCase();
}

interface Props {
  card: Card;
  items: Attachment[] | undefined;
  members: BoardMember[];
  actions: BoardActions;
  canEdit: boolean;
  upload: (cardId: string, files: File[]) => void;
}

export function Attachments({ card, items, members, actions, canEdit, upload }: Props) {
  const toast = useToast();
  const running = useCardUploads(card.id);
  const picker = useRef<HTMLInputElement>(null);
  const [error, setError] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  const count = card.attachment_count ?? 0;
  const loaded = items !== undefined;

  const load = useRef(() => {});
  load.current = () => {
    listAttachments(card.id)
      .then((list) => {
        setError(null);
        actions.attachmentsLoaded(card.id, list);
      })
      .catch((err: Error) => setError(err.message));
  };
  useEffect(() => {
    if (!loaded) load.current();
  }, [card.id, loaded, attempt]);

  // the list is loaded once, then kept current by events; a count that still disagrees with it a moment
  // later (someone's upload raced the first load) loads it again, once per count
  const checked = useRef<number | null>(null);
  const settled = !loaded || items.length === count || running.length > 0 || checked.current === count;
  useEffect(() => {
    if (settled) return;
    const timer = setTimeout(() => {
      checked.current = count;
      load.current();
    }, 1500);
    return () => clearTimeout(timer);
  }, [settled, count]);

  const people = new Map(members.map((m) => [m.user.id, m.user.name]));
  const cover = card.cover_attachment_id;

  const setCover = (id: string | null) =>
    void actions.updateCard(card.id, { cover_attachment_id: id }, id ? "make it the cover" : "remove the cover");

  const remove = async (a: Attachment) => {
    setConfirming(null);
    try {
      await deleteAttachment(a.id);
      actions.attachmentRemoved(card.id, a.id);
      toast.info(`Deleted “${a.filename}”`);
    } catch (err) {
      toast.error(`Could not delete “${a.filename}”: ${(err as Error).message}`);
    }
  };

  return (
    <section aria-label="Attachments" className="attachments">
      <h3>Attachments{count > 0 && <span className="count"> {count}</span>}</h3>
      {canEdit && (
        <div className="row attach-row">
          <button onClick={() => picker.current?.click()}>Attach files…</button>
          <input
            ref={picker} type="file" multiple hidden aria-label="Choose files to attach"
            onChange={(e) => {
              const files = Array.from(e.target.files ?? []);
              e.target.value = ""; // the same file can be chosen again
              if (files.length) upload(card.id, files);
            }}
          />
          <span className="muted">or drop them on the card; up to {formatBytes(maxUploadBytes())} each</span>
        </div>
      )}
      {running.length > 0 && (
        <ul className="uploads">
          {running.map((u) => (
            <li key={u.id} data-testid="upload">
              <span className="grow">Uploading {u.filename}</span>
              <progress max={100} value={u.percent} aria-label={`Uploading ${u.filename}`} /> <span className="muted">{u.percent}%</span>
            </li>
          ))}
        </ul>
      )}
      {error && !loaded ? (
        <Failed message={`Could not load the attachments: ${error}`} retry={() => setAttempt(attempt + 1)} />
      ) : !loaded ? (
        <Loading what="the attachments" />
      ) : items.length === 0 ? (
        running.length === 0 && <p className="muted">No attachments.</p>
      ) : (
        <ul className="attachment-list">
          {items.map((a) => {
            const isCover = cover === a.id;
            return (
              <li key={a.id} className="attachment" data-testid="attachment">
                <a className="attachment-preview" href={contentUrl(a.id)} target="_blank" rel="noopener noreferrer" tabIndex={-1} aria-hidden="true">
                  {a.has_thumbnail ? <img src={thumbnailUrl(a.id)} alt="" loading="lazy" draggable={false} /> : <span className="file-kind">{kind(a)}</span>}
                </a>
                <div className="attachment-info">
                  <div className="attachment-title">
                    <a href={contentUrl(a.id)} target="_blank" rel="noopener noreferrer" className="attachment-name" title={`Open ${a.filename}`}>{a.filename}</a>
                    {isCover && <span className="pill">Cover</span>}
                  </div>
                  <div className="muted">
                    {formatBytes(a.size)} · {a.uploader_id ? people.get(a.uploader_id) ?? "a former member" : "someone"} ·{" "}
                    <time dateTime={a.created_at}>{when.format(new Date(a.created_at))}</time>
                  </div>
                  <div className="attachment-actions">
                    <a href={contentUrl(a.id, true)} download={a.filename}>Download</a>
                    {canEdit && isCoverable(a) && (
                      isCover
                        ? <button className="link" onClick={() => setCover(null)}>Remove cover</button>
                        : <button className="link" onClick={() => setCover(a.id)}>Make cover</button>
                    )}
                    {canEdit && (confirming === a.id ? (
                      <span className="confirm" role="group" aria-label={`Delete ${a.filename}?`}>
                        Delete for everyone?{" "}
                        <button className="link danger" autoFocus onClick={() => void remove(a)}>Yes, delete</button>
                        <button className="link" onClick={() => setConfirming(null)}>Cancel</button>
                      </span>
                    ) : (
                      <button className="link danger" aria-label={`Delete ${a.filename}`} onClick={() => setConfirming(a.id)}>Delete</button>
                    ))}
                  </div>
                </div>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
