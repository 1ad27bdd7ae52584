// Sign in and sign up: one form, two modes.
import { useEffect, useState, type FormEvent } from "react";
import { Link, useLocation, useNavigate } from "react-router-dom";
import { useSession } from "./session";

/** What the sign-in page says about the invitation link that led to it (GET /api/v1/invitations/{token}). */
interface InvitationPreview {
  workspace_name: string;
  inviter_name: string;
}

/** The invitation token when signing in leads on to an invitation link (/invite/<token>). */
export function invitationIn(next: string): string | null {
  const m = /^\/invite\/([^/?#]+)/.exec(next);
  return m ? decodeURIComponent(m[1]) : null;
}

function useInvitation(token: string | null): { preview: InvitationPreview | null; gone: boolean } {
  const [state, setState] = useState<{ preview: InvitationPreview | null; gone: boolean }>({ preview: null, gone: false });
  useEffect(() => {
    if (!token) return;
    let live = true;
    // plain fetch: a visitor without an account has no session to refresh, and the route is not in the typed schema yet
    fetch(`/api/v1/invitations/${encodeURIComponent(token)}`, { headers: { Accept: "application/json" } })
      .then(async (res) => {
        if (!live) return;
        if (res.ok) setState({ preview: (await res.json()) as InvitationPreview, gone: false });
        else if (res.status === 404) setState({ preview: null, gone: true });
      })
      .catch(() => undefined); // no preview: signing in still leads to the invitation
    return () => {
      live = false;
    };
  }, [token]);
  return state;
}

/** Whether to offer "Create an account": not on an invite-only instance (GET /api/v1/instance), unless invited. */
function useSignupOpen(invited: boolean): boolean {
  const [open, setOpen] = useState(true);
  useEffect(() => {
    let live = true;
    fetch("/api/v1/instance", { headers: { Accept: "application/json" } })
      .then(async (res) => {
        const policy = res.ok ? ((await res.json()) as { signup_policy?: string }).signup_policy : undefined;
        if (live) setOpen(policy !== "invite-only");
      })
      .catch(() => undefined); // unknown: keep the link, sign-up answers for itself
    return () => {
      live = false;
    };
  }, []);
  return open || invited;
}

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
  const invitation = invitationIn(next);
  const invited = useInvitation(invitation);
  const signupOpen = useSignupOpen(invitation !== null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (mode === "signup") {
        // through an invitation: the account joins its workspace instead of getting an empty one of its own
        const { pending } = await session.signUp(name.trim(), email.trim(), password, invited.gone ? undefined : invitation ?? undefined);
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
        {invited.preview && (
          <p className="invited" data-testid="invitation" role="status">
            You were invited to <strong>{invited.preview.workspace_name}</strong> by <strong>{invited.preview.inviter_name}</strong>.{" "}
            {mode === "signup" ? "Create your account to join." : "Sign in to join."}
          </p>
        )}
        {invited.gone && (
          <p className="error" data-testid="invitation" role="alert">
            This invitation link no longer works (expired, used up or withdrawn): ask for a new one.
          </p>
        )}
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
        {mode === "signin" && <p className="muted"><Link to="/forgot-password">Forgot your password?</Link></p>}
        {error && <p className="error" role="alert">{error}</p>}
        <button className="primary" type="submit" disabled={busy}>
          {busy ? "Please wait…" : mode === "signup" ? "Sign up" : "Sign in"}
        </button>
        <p className="muted">
          {mode === "signup" ? (
            <>Have an account? <Link to="/signin" state={location.state}>Sign in</Link></>
          ) : (
            signupOpen && <>New here? <Link to="/signup" state={location.state}>Create an account</Link></>
          )}
        </p>
      </form>
    </main>
  );
}
