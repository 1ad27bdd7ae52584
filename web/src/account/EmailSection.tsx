// The Account page's e-mail section: the address, whether it is verified, and changing it by an e-mailed link.
import { useEffect, useState, type FormEvent } from "react";
import { Failed, Loading } from "../ui/states";
import { accountApi, type Profile } from "./api";

type Status = { ok: boolean; text: string } | null;

export function EmailSection() {
  const [profile, setProfile] = useState<Profile | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [status, setStatus] = useState<Status>(null);
  const [verifyStatus, setVerifyStatus] = useState<Status>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    accountApi.me().then(setProfile).catch((err: Error) => setLoadError(err.message));
  }, []);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setStatus(null);
    try {
      const sent = await accountApi.changeEmail(email.trim(), password);
      setEmail("");
      setPassword("");
      setStatus({ ok: true, text: `We sent a link to ${sent.email}. Your address changes once you open it (within 24 hours).` });
    } catch (err) {
      setStatus({ ok: false, text: (err as Error).message });
    } finally {
      setBusy(false);
    }
  }

  async function resend() {
    setVerifyStatus(null);
    try {
      const sent = await accountApi.resendVerification();
      setVerifyStatus({ ok: true, text: `We sent a verification link to ${sent.email}.` });
    } catch (err) {
      setVerifyStatus({ ok: false, text: (err as Error).message });
    }
  }

  return (
    <section aria-labelledby="account-email">
      <h2 id="account-email">Email</h2>
      {loadError ? (
        <Failed message={`Your address could not be loaded: ${loadError}`} />
      ) : !profile ? (
        <Loading what="your address" />
      ) : (
        <>
          <p>
            <strong>{profile.email}</strong>{" "}
            <span className="muted">{profile.email_verified ? "(verified)" : "(not verified)"}</span>
          </p>
          {!profile.email_verified && (
            <p>
              <button type="button" onClick={() => void resend()}>Resend verification link</button>
            </p>
          )}
          <div aria-live="polite">
            {verifyStatus && (
              <p className={verifyStatus.ok ? "muted" : "error"} role={verifyStatus.ok ? "status" : "alert"}>{verifyStatus.text}</p>
            )}
          </div>
          <form onSubmit={submit}>
            <label>
              New e-mail address
              <input name="new_email" type="email" autoComplete="email" required maxLength={254} value={email}
                onChange={(e) => setEmail(e.target.value)} />
            </label>
            <label>
              Current password
              <input name="email_current_password" type="password" autoComplete="current-password" required maxLength={256}
                value={password} onChange={(e) => setPassword(e.target.value)} />
            </label>
            <div aria-live="polite">
              {status && <p className={status.ok ? "muted" : "error"} role={status.ok ? "status" : "alert"}>{status.text}</p>}
            </div>
            <button className="primary" type="submit" disabled={busy}>{busy ? "Sending…" : "Change address"}</button>
          </form>
        </>
      )}
    </section>
  );
}
