// The signed-in user for the whole app; the session itself lives in httpOnly cookies.
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import { api, unwrap, type User } from "../api/client";
import { resetConsistency, setSignedOutHandler } from "../api/http";

/** What a sign-up led to: signed in, or (sign-up verification on) a link e-mailed to `pending`. */
export interface SignUpOutcome {
  pending: string | null;
}

interface Session {
  user: User | null;
  loading: boolean;
  signIn(email: string, password: string): Promise<void>;
  signUp(name: string, email: string, password: string): Promise<SignUpOutcome>;
  verify(token: string): Promise<void>;
  signOut(): Promise<void>;
}

const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error("useSession outside SessionProvider");
  return s;
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [user, setUser] = useState<User | null>(null);
  const [loading, setLoading] = useState(true);

  useEffect(() => {
    setSignedOutHandler(() => setUser(null));
    api
      .GET("/api/v1/me")
      .then(({ data }) => setUser(data ?? null))
      .catch(() => setUser(null))
      .finally(() => setLoading(false));
    return () => setSignedOutHandler(null);
  }, []);

  const signIn = useCallback(async (email: string, password: string) => {
    const out = await unwrap(api.POST("/api/v1/auth/login", { body: { email, password, session: "cookie" } }));
    resetConsistency();
    setUser(out.user);
  }, []);

  const signUp = useCallback(async (name: string, email: string, password: string): Promise<SignUpOutcome> => {
    const out = await unwrap(api.POST("/api/v1/auth/register", { body: { name, email, password, session: "cookie" } }));
    if (!("user" in out)) return { pending: out.email }; // 202: the account exists once the e-mailed link is opened
    resetConsistency();
    setUser(out.user);
    return { pending: null };
  }, []);

  const verify = useCallback(async (token: string) => {
    const out = await unwrap(api.POST("/api/v1/auth/verify", { body: { token, session: "cookie" } }));
    resetConsistency();
    setUser(out.user);
  }, []);

  const signOut = useCallback(async () => {
    try {
      await api.POST("/api/v1/auth/logout", {});
    } finally {
      resetConsistency();
      setUser(null);
    }
  }, []);

  return (
    <SessionContext.Provider value={{ user, loading, signIn, signUp, verify, signOut }}>{children}</SessionContext.Provider>
  );
}
