// /verify/:token — finish a sign-up with the link from the e-mail: the account is made and signed in.
import { useEffect, useRef, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { ApiError } from "../api/client";
import { Failed, Loading } from "../ui/states";
import { useSession } from "./session";

type Outcome = { kind: "gone" | "taken" | "failed"; message: string };

export function VerifySignup() {
  const { token = "" } = useParams();
  const navigate = useNavigate();
  const { loading, verify } = useSession();
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const started = useRef(false); // the link works once: never send it twice (StrictMode runs effects twice)
  useEffect(() => {
    if (loading || started.current) return; // after the session check, which would overwrite the new user
    started.current = true;
    verify(token)
      .then(() => navigate("/", { replace: true }))
      .catch((err: Error) => {
        const status = err instanceof ApiError ? err.status : 0;
        setOutcome({ kind: status === 410 ? "gone" : status === 409 ? "taken" : "failed", message: err.message });
      });
  }, [loading, token, verify, navigate]);

  if (!outcome) return <main className="page narrow"><Loading what="your account" /></main>;
  if (outcome.kind === "failed") {
    return <main className="page narrow"><Failed message={`This link cannot be used: ${outcome.message}`} /></main>;
  }
  return (
    <main className="auth">
      <section className="auth-card" aria-labelledby="verify-title">
        <div className="brand brand-large">Orbitask</div>
        {outcome.kind === "gone" ? (
          <>
            <h1 id="verify-title">This link no longer works</h1>
            <p role="alert">It has expired or was already used.</p>
            <p><Link to="/signup">Sign up again</Link> to get a new link.</p>
          </>
        ) : (
          <>
            <h1 id="verify-title">You already have an account</h1>
            <p role="alert">This address already has an Orbitask account.</p>
            <p><Link to="/signin">Sign in</Link> with it.</p>
          </>
        )}
      </section>
    </main>
  );
}
