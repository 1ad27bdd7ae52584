// /confirm-email/:token — open a link e-mailed to an address: it becomes the account's address, or is verified.
import { useEffect, useRef, useState } from "react";
import { Link, useParams } from "react-router-dom";
import { accountApi } from "../account/api";
import { ApiError } from "../api/client";
import { Loading } from "../ui/states";
import { useSession } from "./session";

type Outcome = { kind: "confirmed" | "gone" | "taken" | "failed"; message: string };

export function ConfirmEmail() {
  const { token = "" } = useParams();
  const { user } = useSession();
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const started = useRef(false); // the link works once: never send it twice (StrictMode runs effects twice)
  useEffect(() => {
    if (started.current) return;
    started.current = true;
    accountApi
      .confirmEmail(token)
      .then((out) => setOutcome({ kind: "confirmed", message: out.email }))
      .catch((err: Error) => {
        const status = err instanceof ApiError ? err.status : 0;
        setOutcome({ kind: status === 400 ? "gone" : status === 409 ? "taken" : "failed", message: err.message });
      });
  }, [token]);

  if (!outcome) return <main className="page narrow"><Loading what="your address" /></main>;
  const next = user ? <Link to="/account">Go to your account</Link> : <Link to="/signin">Sign in</Link>;
  return (
    <main className="auth">
      <section className="auth-card" aria-labelledby="confirm-title">
        <div className="brand brand-large">Orbitask</div>
        {outcome.kind === "confirmed" ? (
          <>
            <h1 id="confirm-title">Address confirmed</h1>
            <p role="status">Your account's e-mail address is <strong>{outcome.message}</strong>, and it is verified.</p>
          </>
        ) : outcome.kind === "gone" ? (
          <>
            <h1 id="confirm-title">This link no longer works</h1>
            <p role="alert">It has expired, was already used, or a newer change replaced it. Ask for a new one from your account.</p>
          </>
        ) : outcome.kind === "taken" ? (
          <>
            <h1 id="confirm-title">This address already has an account</h1>
            <p role="alert">{outcome.message}</p>
          </>
        ) : (
          <>
            <h1 id="confirm-title">This link cannot be used</h1>
            <p role="alert">{outcome.message}</p>
          </>
        )}
        <p>{next}</p>
      </section>
    </main>
  );
}
