// Attachments: list, delete, upload with progress (XMLHttpRequest), and the messages for refused uploads.
import { api, unwrap, type Schemas } from "./client";
import { csrfToken, refreshSession, rememberToken } from "./http";

export type Attachment = Schemas["AttachmentRead"];

/** The server's default ORBITASK_ATTACHMENT_MAX_BYTES; a 413 naming another limit replaces it. */
export const DEFAULT_MAX_BYTES = 25 * 1024 * 1024;
let maxBytes = DEFAULT_MAX_BYTES;

/** The largest file the server is known to accept. */
export function maxUploadBytes(): number {
  return maxBytes;
}

const PAGE = 200; // the API's largest page

export function contentUrl(id: string, download = false): string {
  return `/api/v1/attachments/${encodeURIComponent(id)}/content${download ? "?download=true" : ""}`;
}

export function thumbnailUrl(id: string): string {
  return `/api/v1/attachments/${encodeURIComponent(id)}/thumbnail`;
}

/** Whether an attachment can be a card's cover (an image with a preview). */
export function isCoverable(a: Pick<Attachment, "content_type" | "has_thumbnail">): boolean {
  return a.content_type.startsWith("image/") && !!a.has_thumbnail;
}

/** 1536 → "1.5 KB": binary multiples, as the limit is stated (25 MiB reads "25 MB"). */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return "";
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const text = v >= 100 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(1).replace(/\.0$/, "");
  return `${text} ${units[i]}`;
}

/** Why a file cannot be uploaded before sending it, or null when it may go. */
export function checkFile(file: Pick<File, "name" | "size">, limit = maxBytes): string | null {
  if (file.size === 0) return `“${file.name}” is empty.`;
  if (file.size > limit) return `“${file.name}” is ${formatBytes(file.size)}; files can be at most ${formatBytes(limit)}.`;
  return null;
}

interface Problem {
  type?: string;
  title?: string;
  detail?: unknown;
  max_bytes?: number;
  used_bytes?: number;
  quota_bytes?: number;
}

/** The message for a refused upload, from the problem+json body (or its absence). */
export function uploadErrorMessage(filename: string, status: number, problem: Problem | null): string {
  const slug = (problem?.type ?? "").split("/").pop();
  const detail = typeof problem?.detail === "string" ? problem.detail : null;
  if (status === 0) return `“${filename}” was not uploaded: the server could not be reached. Check your connection and try again.`;
  if (slug === "quota-exceeded" || (status === 413 && problem?.quota_bytes != null)) {
    const used = problem?.used_bytes, quota = problem?.quota_bytes;
    const room = used != null && quota != null ? ` (${formatBytes(Math.max(0, quota - used))} of ${formatBytes(quota)} left)` : "";
    return `“${filename}” does not fit in this workspace's storage${room}. Delete attachments to make room.`;
  }
  if (status === 413) {
    const limit = problem?.max_bytes;
    return `“${filename}” is too large: files can be at most ${formatBytes(limit ?? maxBytes)}.`;
  }
  if (slug === "empty-file") return `“${filename}” is empty.`;
  if (status === 415) return `“${filename}” was not sent as a file upload (${detail ?? "unsupported media type"}).`;
  if (status === 403) return `You may not attach files to this card.`;
  if (status === 404) return `The card is gone, or you no longer have access to it.`;
  if (status === 401) return `Your session has ended: sign in again to attach “${filename}”.`;
  const why = detail ?? problem?.title ?? `the server answered ${status}`;
  return `“${filename}” was not uploaded: ${why}`;
}

/** An upload the server refused (message for people) or that never reached it (status 0). */
export class UploadError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** A card's attachments, oldest first (every page). */
export async function listAttachments(cardId: string): Promise<Attachment[]> {
  const out: Attachment[] = [];
  let cursor: string | null = null;
  do {
    const page: Schemas["AttachmentPage"] = await unwrap(api.GET("/api/v1/cards/{card_id}/attachments", {
      params: { path: { card_id: cardId }, query: { limit: PAGE, ...(cursor ? { cursor } : {}) } },
    }));
    out.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return out;
}

export async function deleteAttachment(id: string): Promise<void> {
  await unwrap(api.DELETE("/api/v1/attachments/{attachment_id}", { params: { path: { attachment_id: id } } }));
}

export interface UploadOptions {
  /** Bytes sent so far and in all (the multipart body, a little more than the file). */
  onProgress?: (loaded: number, total: number) => void;
  signal?: AbortSignal;
}

function parseProblem(text: string): Problem | null {
  try {
    const body = JSON.parse(text) as unknown;
    return body && typeof body === "object" ? (body as Problem) : null;
  } catch {
    return null;
  }
}

function send(cardId: string, file: File, opts: UploadOptions): Promise<{ status: number; text: string; token: string | null }> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/v1/cards/${encodeURIComponent(cardId)}/attachments`);
    const csrf = csrfToken();
    if (csrf) xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.setRequestHeader("Accept", "application/json, application/problem+json");
    xhr.upload.onprogress = (e) => opts.onProgress?.(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onload = () => resolve({ status: xhr.status, text: xhr.responseText, token: xhr.getResponseHeader("X-Orbitask-Token") });
    xhr.onerror = () => resolve({ status: 0, text: "", token: null });
    xhr.onabort = () => reject(new DOMException("The upload was cancelled.", "AbortError"));
    opts.signal?.addEventListener("abort", () => xhr.abort(), { once: true });
    const form = new FormData();
    form.append("file", file, file.name); // the browser sets Content-Type with the boundary
    xhr.send(form);
  });
}

/** Upload one file to a card (multipart, field `file`); a refused upload throws UploadError with a message for people. */
export async function uploadAttachment(cardId: string, file: File, opts: UploadOptions = {}): Promise<Attachment> {
  const early = checkFile(file);
  if (early) throw new UploadError(early, file.size === 0 ? 422 : 413);
  let res = await send(cardId, file, opts);
  if (res.status === 401 && (await refreshSession())) res = await send(cardId, file, opts);
  rememberToken(res.token);
  if (res.status >= 200 && res.status < 300) return JSON.parse(res.text) as Attachment;
  const problem = parseProblem(res.text);
  if (res.status === 413 && typeof problem?.max_bytes === "number" && problem.max_bytes > 0) maxBytes = problem.max_bytes;
  throw new UploadError(uploadErrorMessage(file.name, res.status, problem), res.status);
}
