// The typed API client: paths and bodies come from the server's OpenAPI schema (schema.d.ts).
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";
import { apiFetch } from "./http";

export type Schemas = components["schemas"];
export type User = Schemas["UserRead"];
export type Workspace = Schemas["WorkspaceRead"];
export type Member = Schemas["MemberRead"];
export type Invitation = Schemas["InvitationRead"];
export type Board = Schemas["BoardRead"];
export type BoardSummary = Schemas["BoardSummary"];
export type List = Schemas["ListRead"];
export type Label = Schemas["LabelRead"];
export type BoardMember = Schemas["BoardMemberRead"];
export type Card = Schemas["CardRead"];
export type CardDetail = Schemas["CardDetail"];
export type Checklist = Schemas["ChecklistRead"];
export type ChecklistItem = Schemas["ChecklistItemRead"];
export type Comment = Schemas["CommentRead"];
export type BoardEvent = Schemas["EventRead"];

/** A snapshot as the board view uses it: the schema types cards loosely, they are CardRead. */
export type BoardSnapshot = Omit<Schemas["BoardSnapshot"], "cards"> & { cards: Card[] };

export const api = createClient<paths>({ baseUrl: "", fetch: apiFetch });

/** A problem+json answer, or a network failure. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/**
 * What a person reads for the answers to a retried write (the client retries a POST with the same
 * Idempotency-Key after a lost answer): the server's wording is for API clients.
 */
const RETRY_OUTCOMES: Record<string, string> = {
  "idempotency-response-withheld":
    "That was done, but what it showed (a link or secret shown only once) was lost on the way and cannot be " +
    "shown again. Make a new one.",
  "idempotency-response-lost": "That was saved, but the answer was lost on the way. Reload the page to see it.",
};

export function problemMessage(error: unknown, status: number): string {
  if (error && typeof error === "object") {
    const e = error as { detail?: unknown; title?: string; type?: unknown };
    const kind = typeof e.type === "string" ? e.type.slice(e.type.lastIndexOf("/") + 1) : "";
    if (kind in RETRY_OUTCOMES) return RETRY_OUTCOMES[kind];
    if (typeof e.detail === "string") return e.detail;
    if (Array.isArray(e.detail) && e.detail.length) {
      const first = e.detail[0] as { msg?: string; loc?: unknown[] };
      const field = Array.isArray(first.loc) ? first.loc[first.loc.length - 1] : "";
      return `${field ? `${String(field)}: ` : ""}${first.msg ?? "invalid input"}`;
    }
    if (e.title) return e.title;
  }
  return status ? `The server answered ${status}.` : "The server could not be reached.";
}

/** The data of a call, or an ApiError with the server's explanation. */
export async function unwrap<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  let result;
  try {
    result = await call;
  } catch {
    throw new ApiError("The server could not be reached; check your connection.", 0);
  }
  if (result.error !== undefined || !result.response.ok) {
    throw new ApiError(problemMessage(result.error, result.response.status), result.response.status);
  }
  return result.data as T;
}
