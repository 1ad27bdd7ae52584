// The Account page's sessions section: every signed-in device, signed out one by one or all but this one.
import { useCallback, useEffect, useState } from "react";
import { ApiError, problemMessage } from "../api/client";
import { apiFetch } from "../api/http";

/** One sign-in (GET /api/v1/auth/sessions); typed here until the API types are regenerated. */
export interface AccountSession {
  id: string;
  device: string;
  ip: string;
  region: string;
  created_at: string;
  last_seen_at: string;
  current: boolean;
}

async function call<T>(method: string, path: string): Promise<T> {
  let res: Response;
  try {
    res = await apiFetch(new Request(new URL(path, window.location.origin), { method }));
  } catch {
    throw new ApiError("The server could not be reached; check your connection.", 0);
  }
  const data: unknown = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(problemMessage(data, res.status), res.status);
  return data as T;
}

/** "just now", "5 minutes ago", "3 days ago". */
export function relativeTime(iso: string, now: number = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  const steps: [number, Intl.RelativeTimeFormatUnit][] = [[86400, "day"], [3600, "hour"], [60, "minute"]];
  if (seconds < 60) return "just now";
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  for (const [size, unit] of steps) {
    if (seconds >= size) return rtf.format(-Math.floor(seconds / size), unit);
  }
  return "just now";
}

export function SessionsSection() {
  const [sessions, setSessions] = useState<AccountSession[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    try {
      setSessions(await call<AccountSession[]>("GET", "/api/v1/auth/sessions"));
      setError(null);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  async function revoke(path: string, method: string) {
    setBusy(true);
    try {
      await call<unknown>(method, path);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
      await load();
    }
  }

  function signOutOthers() {
    if (!window.confirm("Sign out every other device? They will need to sign in again.")) return;
    void revoke("/api/v1/auth/sessions/revoke-others", "POST");
  }

  const others = sessions?.filter((s) => !s.current) ?? [];
  return (
    <section aria-labelledby="account-sessions">
      <h2 id="account-sessions">Sessions</h2>
      <p className="muted">Devices signed in to your account. Signing one out takes effect at its next request.</p>
      {error && <p className="error" role="alert">{error}</p>}
      {sessions === null ? (
        <p className="muted">Loading…</p>
      ) : (
        <table className="sessions">
          <caption className="sr-only">Signed-in devices</caption>
          <thead>
            <tr>
              <th scope="col">Device</th>
              <th scope="col">IP address</th>
              <th scope="col">Region</th>
              <th scope="col">Last seen</th>
              <th scope="col"><span className="sr-only">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {sessions.map((s) => (
              <tr key={s.id} data-session={s.id}>
                <th scope="row">
                  {s.device}
                  {s.current && <> <span className="pill">This device</span></>}
                </th>
                <td>{s.ip}</td>
                <td>{s.region}</td>
                <td><time dateTime={s.last_seen_at} title={new Date(s.last_seen_at).toLocaleString()}>
                  {relativeTime(s.last_seen_at)}</time></td>
                <td>
                  {!s.current && (
                    <button type="button" disabled={busy} aria-label={`Sign out ${s.device} (${s.ip})`}
                      onClick={() => void revoke(`/api/v1/auth/sessions/${encodeURIComponent(s.id)}`, "DELETE")}>
                      Sign out
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {others.length > 0 && (
        <p>
          <button type="button" disabled={busy} onClick={signOutOthers}>Sign out all other sessions</button>
        </p>
      )}
    </section>
  );
}
