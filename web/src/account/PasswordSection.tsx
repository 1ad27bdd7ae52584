// The Account page's password section: change it (the other sessions are signed out, this one stays).
import { useState, type FormEvent } from "react";
import { accountApi } from "./api";

export function PasswordSection() {
  const [current, setCurrent] = useState("");
  const [password, setPassword] = useState("");
  const [repeat, setRepeat] = useState("");
  const [status, setStatus] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setStatus(null);
    if (password !== repeat) {
      setStatus({ ok: false, text: "The two new passwords differ: type the same one twice." });
      return;
    }
    setBusy(true);
    try {
      await accountApi.changePassword(current, password);
      setCurrent("");
      setPassword("");
      setRepeat("");
      setStatus({ ok: true, text: "Password changed. Your other sessions were signed out; this one goes on." });
    } catch (err) {
      setStatus({ ok: false, text: (err as Error).message });
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="account-password">
      <h2 id="account-password">Password</h2>
      <form onSubmit={submit}>
        <label>
          Current password
          <input name="current_password" type="password" autoComplete="current-password" required maxLength={256}
            value={current} onChange={(e) => setCurrent(e.target.value)} />
        </label>
        <label>
          New password
          <input name="new_password" type="password" autoComplete="new-password" required minLength={8} maxLength={256}
            value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        <label>
          New password again
          <input name="repeat_password" type="password" autoComplete="new-password" required minLength={8} maxLength={256}
            value={repeat} onChange={(e) => setRepeat(e.target.value)} />
        </label>
        <div aria-live="polite">
          {status && <p className={status.ok ? "muted" : "error"} role={status.ok ? "status" : "alert"}>{status.text}</p>}
        </div>
        <button className="primary" type="submit" disabled={busy}>{busy ? "Saving…" : "Change password"}</button>
      </form>
    </section>
  );
}
