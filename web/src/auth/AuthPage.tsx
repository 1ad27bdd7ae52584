// Sign in and sign up: one form, two modes.
import { useState, type FormEvent } from "react";
import { Link, useLocation, useNavigate } from "react-router-dom";
import { useSession } from "./session";

export function AuthPage({ mode }: { mode: "signin" | "signup" }) {
  const session = useSession();
  const navigate = useNavigate();
  const location = useLocation();
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [sentTo, setSentTo] = useState<string | null>(null);
  const next = (location.state as { from?: string } | null)?.from ?? "/";

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (mode === "signup") {
        const { pending } = await session.signUp(name.trim(), email.trim(), password);
        if (pending !== null) {
          setSentTo(pending);
          return;
        }
      } else await session.signIn(email.trim(), password);
      navigate(next, { replace: true });
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }

  if (sentTo !== null && mode === "signup") {
    return (
      <main className="auth">
        <section className="auth-card" aria-labelledby="auth-title">
          <div className="brand brand-large">Orbitask</div>
          <h1 id="auth-title">Check your inbox</h1>
          <p role="status">
            We sent a link to <strong>{sentTo}</strong> to finish signing up. It works for 24 hours.
          </p>
          <p className="muted">
            No e-mail? Check the spam folder, or <button className="link" type="button" onClick={() => setSentTo(null)}>sign up again</button>.
          </p>
        </section>
      </main>
    );
  }

  return (
    <main className="auth">
      <form className="auth-card" onSubmit={submit} aria-labelledby="auth-title">
        <div className="brand brand-large">Orbitask</div>
        <h1 id="auth-title">{mode === "signup" ? "Create your account" : "Sign in"}</h1>
        {mode === "signup" && (
          <label>
            Name
            <input name="name" autoComplete="name" required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
          </label>
        )}
        <label>
          E-mail
          <input name="email" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete={mode === "signup" ? "new-password" : "current-password"}
            required
            minLength={mode === "signup" ? 8 : 1}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        {error && <p className="error" role="alert">{error}</p>}
        <button className="primary" type="submit" disabled={busy}>
          {busy ? "Please wait…" : mode === "signup" ? "Sign up" : "Sign in"}
        </button>
        <p className="muted">
          {mode === "signup" ? (
            <>Have an account? <Link to="/signin" state={location.state}>Sign in</Link></>
          ) : (
            <>New here? <Link to="/signup" state={location.state}>Create an account</Link></>
          )}
        </p>
      </form>
    </main>
  );
}
