// "Not found" for unknown addresses, malformed ids and things the user cannot see: one page for all three,
// so it never tells whether a board the user may not see exists.
import { Link } from "react-router-dom";
import { useSession } from "../auth/session";
import { WorkspacesProvider } from "../workspaces/useWorkspaces";
import { Layout } from "./Layout";
import { Loading } from "./states";

/** The message and a way home; inside a page that already has its top bar. */
export function NotFound({ message = "This page does not exist, or you have no access to it." }: { message?: string }) {
  const { user } = useSession();
  return (
    <section className="state not-found" aria-labelledby="not-found-title">
      <h1 id="not-found-title">Nothing here</h1>
      <p role="alert">{message}</p>
      <p>{user ? <Link to="/">Go to your boards</Link> : <Link to="/signin">Sign in</Link>}</p>
    </section>
  );
}

/** A whole page: with the top bar when signed in. */
export function NotFoundPage({ message }: { message?: string }) {
  const { user, loading } = useSession();
  if (loading) return <Loading what="Orbitask" />;
  if (!user) return <main className="page narrow"><NotFound message={message} /></main>;
  return (
    <WorkspacesProvider>
      <Layout>
        <main className="page narrow"><NotFound message={message} /></main>
      </Layout>
    </WorkspacesProvider>
  );
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether every id in a route's parameters (`boardId`, `cardId`, ...) is well-formed. */
export function idsWellFormed(params: Record<string, string | undefined>): boolean {
  return Object.entries(params).every(([name, value]) => !name.endsWith("Id") || value === undefined || UUID.test(value));
}
