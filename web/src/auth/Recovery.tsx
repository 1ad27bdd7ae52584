// Forgotten password: ask for a reset link (/forgot-password), then set a new password from it (/reset-password/:token).
import { useState, type FormEvent } from "react";
import { Link, useParams } from "react-router-dom";
import { accountApi } from "../account/api";
import { ApiError } from "../api/client";
import { useSession } from "./session";

export function ForgotPassword() {
  const [email, setEmail] = useState("");
  const [sentTo, setSentTo] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      setSentTo((await accountApi.requestReset(email.trim())).email);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }

  if (sentTo !== null) {
    return (
      <main className="auth">
        <section className="auth-card" aria-labelledby="forgot-title">
          <div className="brand brand-large">Orbitask</div>
          <h1 id="forgot-title">Check your inbox</h1>
          <p role="status">
            If an account exists for <strong>{sentTo}</strong>, we sent a link to choose a new password. It works once,
            for 30 minutes.
          </p>
          <p className="muted">
            No e-mail? Check the spam folder, or <button className="link" type="button" onClick={() => setSentTo(null)}>ask again</button>.
          </p>
          <p className="muted"><Link to="/signin">Back to sign in</Link></p>
        </section>
      </main>
    );
  }

  return (
    <main className="auth">
      <form className="auth-card" onSubmit={submit} aria-labelledby="forgot-title">
        <div className="brand brand-large">Orbitask</div>
        <h1 id="forgot-title">Reset your password</h1>
        <p className="muted">Enter your account's e-mail address: we will send it a link to choose a new password.</p>
        <label>
          E-mail
          <input name="email" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        {error && <p className="error" role="alert">{error}</p>}
        <button className="primary" type="submit" disabled={busy}>{busy ? "Please wait…" : "Send the link"}</button>
        <p className="muted"><Link to="/signin">Back to sign in</Link></p>
      </form>
    </main>
  );
}

export function ResetPassword() {
  const { token = "" } = useParams();
  const session = useSession();
  const [password, setPassword] = useState("");
  const [repeat, setRepeat] = useState("");
  const [error, setError] = useState<{ message: string; gone: boolean } | null>(null);
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    if (password !== repeat) {
      setError({ message: "The two passwords differ: type the same new password twice.", gone: false });
      return;
    }
    setBusy(true);
    try {
      await accountApi.confirmReset(token, password);
      if (session.user) await session.signOut(); // this browser's session ended with all the others
      setDone(true);
    } catch (err) {
      setError({ message: (err as Error).message, gone: err instanceof ApiError && err.status === 400 });
    } finally {
      setBusy(false);
    }
  }

  if (done) {
    return (
      <main className="auth">
        <section className="auth-card" aria-labelledby="reset-title">
          <div className="brand brand-large">Orbitask</div>
          <h1 id="reset-title">Password changed</h1>
          <p role="status">Your account was signed out everywhere. Sign in with your new password.</p>
          <p><Link to="/signin">Sign in</Link></p>
        </section>
      </main>
    );
  }

  return (
    <main className="auth">
      <form className="auth-card" onSubmit={submit} aria-labelledby="reset-title">
        <div className="brand brand-large">Orbitask</div>
        <h1 id="reset-title">Choose a new password</h1>
        <label>
          New password
          <input name="password" type="password" autoComplete="new-password" required minLength={8} maxLength={256}
            value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        <label>
          New password again
          <input name="repeat" type="password" autoComplete="new-password" required minLength={8} maxLength={256}
            value={repeat} onChange={(e) => setRepeat(e.target.value)} />
        </label>
        <p className="muted">At least 8 characters. Every session of your account will be signed out.</p>
        <div aria-live="polite">
          {error && (
            <p className="error" role="alert">
              {error.message} {error.gone && <Link to="/forgot-password">Ask for a new link</Link>}
            </p>
          )}
        </div>
        <button className="primary" type="submit" disabled={busy}>{busy ? "Please wait…" : "Set the new password"}</button>
      </form>
    </main>
  );
}
