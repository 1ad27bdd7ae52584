// Signing in again where the person is, when the session ended under the page: nothing on it is lost, and
// what they were sending goes on once they are back.
import { useEffect, useRef, useState, type FormEvent } from "react";

interface Props {
  name: string;
  email: string;
  signIn: (password: string) => Promise<void>;
  leave: () => void;
}

export function SignInDialog({ name, email, signIn, leave }: Props) {
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(password);
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  }

  return (
    <div className="modal-backdrop reauth-backdrop">
      <form
        className="modal small"
        role="dialog"
        aria-modal="true"
        aria-labelledby="reauth-title"
        aria-describedby="reauth-why"
        onSubmit={submit}
        // Escape must not close the card dialog underneath: this one stays until the person chooses
        onKeyDown={(e) => e.key === "Escape" && e.preventDefault()}
      >
        <h2 id="reauth-title">Sign in again</h2>
        <p id="reauth-why">
          Your session has ended, {name}. Sign in to carry on: what you were doing is kept and will be saved once you are back.
        </p>
        <p className="muted">Signing in as <strong>{email}</strong></p>
        <label>
          Password
          <input ref={input} name="password" type="password" autoComplete="current-password" required value={password}
            onChange={(e) => setPassword(e.target.value)} />
        </label>
        {error && <p className="error" role="alert">{error}</p>}
        <div className="row">
          <button className="primary" type="submit" disabled={busy}>{busy ? "Please wait…" : "Sign in"}</button>
          <button type="button" onClick={leave}>Sign out instead</button>
        </div>
      </form>
    </div>
  );
}
