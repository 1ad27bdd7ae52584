// The signed-in user for the whole app; the session itself lives in httpOnly cookies.
import { createContext, useCallback, useContext, useEffect, useRef, useState, type ReactNode } from "react";
import { api, unwrap, type User } from "../api/client";
import { resetConsistency, setSessionLostHandler, setSignedOutHandler } from "../api/http";
import { SignInDialog } from "../ui/SignInDialog";

/** What a sign-up led to: signed in, or (sign-up verification on) a link e-mailed to `pending`. */
export interface SignUpOutcome {
  pending: string | null;
}

interface Session {
  user: User | null;
  loading: boolean;
  /** Signed out on purpose in this tab: the sign-in page does not lead back to where they were (someone else
   * may sign in next); a session that merely ended does. */
  signedOut: boolean;
  signIn(email: string, password: string): Promise<void>;
  /** `invitation`: the token of the invitation link that led here (the account joins that workspace). */
  signUp(name: string, email: string, password: string, invitation?: string): Promise<SignUpOutcome>;
  verify(token: string): Promise<void>;
  signOut(): Promise<void>;
  /** The signed-in user changed elsewhere (the Account page): show the new name everywhere. */
  updated(user: User): void;
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
  const [lost, setLost] = useState<((back: boolean) => void) | null>(null);
  const [signedOut, setSignedOut] = useState(false);
  const userRef = useRef<User | null>(null);
  userRef.current = user;

  useEffect(() => {
    setSignedOutHandler(() => setUser(null));
    // a session that ends under a signed-in page: sign in again in place (not for a visitor never signed in)
    setSessionLostHandler(() =>
      userRef.current ? new Promise<boolean>((resolve) => setLost(() => resolve)) : Promise.resolve(false));
    api
      .GET("/api/v1/me")
      .then(({ data }) => setUser(data ?? null))
      .catch(() => setUser(null))
      .finally(() => setLoading(false));
    return () => {
      setSignedOutHandler(null);
      setSessionLostHandler(null);
    };
  }, []);

  const signIn = useCallback(async (email: string, password: string) => {
    const out = await unwrap(api.POST("/api/v1/auth/login", { body: { email, password, session: "cookie" } }));
    resetConsistency();
    setSignedOut(false);
    setUser(out.user);
  }, []);

  const signUp = useCallback(async (name: string, email: string, password: string, invitation?: string): Promise<SignUpOutcome> => {
    // `invitation` is typed by the regenerated API schema (make api-types); until then the body is widened here
    const body = { name, email, password, session: "cookie" as const, ...(invitation ? { invitation } : {}) };
    const out = await unwrap(api.POST("/api/v1/auth/register", { body }));
    if (!("user" in out)) return { pending: out.email }; // 202: the account exists once the e-mailed link is opened
    resetConsistency();
    setSignedOut(false);
    setUser(out.user);
    return { pending: null };
  }, []);

  const verify = useCallback(async (token: string) => {
    const out = await unwrap(api.POST("/api/v1/auth/verify", { body: { token, session: "cookie" } }));
    resetConsistency();
    setSignedOut(false);
    setUser(out.user);
  }, []);

  const signOut = useCallback(async () => {
    try {
      await api.POST("/api/v1/auth/logout", {});
    } finally {
      resetConsistency();
      setSignedOut(true);
      setUser(null);
    }
  }, []);

  const again = useCallback(async (password: string) => {
    const out = await unwrap(api.POST("/api/v1/auth/login", { body: { email: userRef.current?.email ?? "", password, session: "cookie" } }));
    setUser(out.user);
    lost?.(true);
    setLost(null);
  }, [lost]);

  const leave = useCallback(() => {
    lost?.(false); // the request that met the lost session runs the signed-out handler: the sign-in page
    setLost(null);
  }, [lost]);

  return (
    <SessionContext.Provider value={{ user, loading, signedOut, signIn, signUp, verify, signOut, updated: setUser }}>
      {children}
      {lost && user && <SignInDialog name={user.name} email={user.email} signIn={again} leave={leave} />}
    </SessionContext.Provider>
  );
}
