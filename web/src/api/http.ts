// Transport for the typed client: CSRF header, read-your-writes token, Idempotency-Key retries, session refresh.

const TOKEN_HEADER = "X-Orbitask-Token";
const RETRIES = 3;
const RETRY_STATUS = new Set([502, 503, 504]);

let newestToken: string | null = null;
let onSignedOut: (() => void) | null = null;
let onSessionLost: (() => Promise<boolean>) | null = null;
let reauthenticating: Promise<boolean> | null = null;

/** Called when the session is gone for good (refresh failed): the app shows the sign-in screen. */
export function setSignedOutHandler(handler: (() => void) | null): void {
  onSignedOut = handler;
}

/** Called when a signed-in session ends under the page (expired, revoked elsewhere): it asks the person to sign
 * in again where they are and resolves true once they did (the request is then sent again), false when they
 * would rather leave (then the signed-out handler runs). Without one, the signed-out handler runs at once. */
export function setSessionLostHandler(handler: (() => Promise<boolean>) | null): void {
  onSessionLost = handler;
}

/** One sign-in prompt for every request that met the lost session at the same time. */
function reauthenticate(): Promise<boolean> {
  if (!onSessionLost) return Promise.resolve(false);
  reauthenticating ??= onSessionLost().finally(() => (reauthenticating = null));
  return reauthenticating;
}

/** The newest consistency token this tab received (sent back on reads for read-your-writes). */
export function consistencyToken(): string | null {
  return newestToken;
}

export function resetConsistency(): void {
  newestToken = null;
}

/** Keep a consistency token if it names a later event than the one kept: answers can arrive out of order,
 * and a slow answer to an older write must not move the token back. */
export function rememberToken(token: string | null): void {
  if (token && tokenSeq(token) >= tokenSeq(newestToken)) newestToken = token;
}

/** The event sequence a token names (src/orbitask/core/tokens.py: base64url of "v1:<seq>:<event id>");
 * 0 for none or one this client cannot read, so any readable token replaces it. */
export function tokenSeq(token: string | null): number {
  if (!token) return 0;
  try {
    const padded = token.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (token.length % 4)) % 4);
    const [prefix, seq] = atob(padded).split(":");
    const n = Number(seq);
    return prefix === "v1" && Number.isSafeInteger(n) && n > 0 ? n : 0;
  } catch {
    return 0;
  }
}

/** The CSRF token a cookie session sends back on writes. */
export function csrfToken(): string | null {
  return typeof document === "undefined" ? null : cookie("orbitask_csrf");
}

function cookie(name: string): string | null {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

export function newId(): string {
  return crypto.randomUUID();
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let refreshing: Promise<boolean> | null = null;

/** Exchange the refresh cookie for a new access cookie; one attempt shared by concurrent callers. */
export function refreshSession(): Promise<boolean> {
  refreshing ??= (async () => {
    try {
      const csrf = cookie("orbitask_csrf");
      if (!csrf) return false;
      const res = await fetch("/api/v1/auth/refresh", { method: "POST", headers: { "X-CSRF-Token": csrf } });
      return res.ok;
    } catch {
      return false;
    } finally {
      setTimeout(() => (refreshing = null), 0);
    }
  })();
  return refreshing;
}

function prepare(request: Request, idempotencyKey: string | null): Request {
  const headers = new Headers(request.headers);
  const method = request.method.toUpperCase();
  if (method === "GET" || method === "HEAD") {
    if (newestToken) headers.set(TOKEN_HEADER, newestToken);
  } else {
    const csrf = cookie("orbitask_csrf");
    if (csrf) headers.set("X-CSRF-Token", csrf);
  }
  if (idempotencyKey) headers.set("Idempotency-Key", idempotencyKey);
  return new Request(request, { headers });
}

/**
 * fetch for the API: a POST gets an Idempotency-Key, so a retry after a lost response or a 503
 * is applied once; a 401 on a cookie session refreshes it and tries again once.
 */
export async function apiFetch(input: Request): Promise<Response> {
  const method = input.method.toUpperCase();
  const key = method === "POST" && !input.url.includes("/auth/") ? newId() : null;
  const body = method === "GET" || method === "HEAD" ? null : await input.clone().arrayBuffer();
  const build = () => prepare(new Request(input, body ? { body } : {}), key);
  let refreshed = false;
  for (let attempt = 0; ; attempt++) {
    let res: Response;
    try {
      res = await fetch(build());
    } catch (err) {
      if (input.signal.aborted || attempt + 1 >= RETRIES) throw err; // a cancelled request is not a failure to retry
      await delay(300 * 2 ** attempt);
      continue;
    }
    if (RETRY_STATUS.has(res.status) && attempt + 1 < RETRIES) {
      const after = Number(res.headers.get("Retry-After"));
      await delay(Number.isFinite(after) && after > 0 ? Math.min(after, 5) * 1000 : 300 * 2 ** attempt);
      continue;
    }
    if (res.status === 401 && !refreshed && !input.url.includes("/auth/")) {
      refreshed = true;
      if (await refreshSession()) continue;
      if (await reauthenticate()) continue; // signed in again in place: what the person was doing goes on
      onSignedOut?.();
    }
    rememberToken(res.headers.get(TOKEN_HEADER));
    return res;
  }
}
