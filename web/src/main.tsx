import { StrictMode, type ReactNode } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter, Navigate, Route, Routes, useLocation, useParams, useSearchParams } from "react-router-dom";
import { AccountPage } from "./account/AccountPage";
import { AuthPage } from "./auth/AuthPage";
import { ConfirmEmail } from "./auth/ConfirmEmail";
import { ForgotPassword, ResetPassword } from "./auth/Recovery";
import { SessionProvider, useSession } from "./auth/session";
import { VerifySignup } from "./auth/VerifySignup";
import { BoardList } from "./boards/BoardList";
import { BoardView } from "./boards/BoardView";
import { prefetchBoard } from "./boards/useBoard";
import { SearchPage } from "./search/SearchPage";
import { MyTasks } from "./tasks/MyTasks";
import { NotFoundPage, idsWellFormed } from "./ui/NotFound";
import { Loading, Failed } from "./ui/states";
import { ToastProvider } from "./ui/toast";
import { AcceptInvite } from "./workspaces/AcceptInvite";
import { Members } from "./workspaces/Members";
import { WorkspacesProvider, lastWorkspace, useWorkspaces } from "./workspaces/useWorkspaces";
import "./styles.css";

function RequireUser({ children }: { children: ReactNode }) {
  const { user, loading, signedOut } = useSession();
  const location = useLocation();
  const params = useParams();
  if (loading) return <Loading what="Orbitask" />;
  // signing in leads back here (AuthPage reads `from`): a card link or an invitation survives it
  if (!user) return <Navigate to="/signin" replace state={signedOut ? null : { from: location.pathname + location.search }} />;
  if (!idsWellFormed(params)) return <NotFoundPage />;
  return <WorkspacesProvider>{children}</WorkspacesProvider>;
}

/** Links from before cards had their own address (/boards/<id>?card=<id>, in older e-mails). */
function OldCardLink() {
  const { boardId = "" } = useParams();
  const card = useSearchParams()[0].get("card");
  return <Navigate to={card ? `/b/${boardId}/c/${card}` : `/b/${boardId}`} replace />;
}

function Home() {
  const { items, error } = useWorkspaces();
  if (error) return <Failed message={error} />;
  if (!items) return <Loading what="workspaces" />;
  const ws = lastWorkspace(items);
  return ws ? <Navigate to={`/w/${ws.id}`} replace /> : <Navigate to="/my-tasks" replace />;
}

function GuestOnly({ children }: { children: ReactNode }) {
  const { user, loading } = useSession();
  const from = (useLocation().state as { from?: string } | null)?.from;
  if (loading) return <Loading what="Orbitask" />;
  // signed in on this page: on to where the person was going (this may render before AuthPage navigates)
  return user ? <Navigate to={from ?? "/"} replace /> : <>{children}</>;
}

const boardPath = /^\/b\/([0-9a-f-]{36})(\/|$)/.exec(window.location.pathname);
if (boardPath) prefetchBoard(boardPath[1]);

const signedIn = (el: ReactNode) => <RequireUser>{el}</RequireUser>;

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <BrowserRouter>
      <ToastProvider>
        <SessionProvider>
          <Routes>
            <Route path="/signin" element={<GuestOnly><AuthPage mode="signin" /></GuestOnly>} />
            <Route path="/signup" element={<GuestOnly><AuthPage mode="signup" /></GuestOnly>} />
            <Route path="/verify/:token" element={<VerifySignup />} />
            <Route path="/forgot-password" element={<GuestOnly><ForgotPassword /></GuestOnly>} />
            <Route path="/reset-password/:token" element={<ResetPassword />} />
            <Route path="/confirm-email/:token" element={<ConfirmEmail />} />
            <Route path="/" element={signedIn(<Home />)} />
            <Route path="/w/:workspaceId" element={signedIn(<BoardList />)} />
            <Route path="/w/:workspaceId/members" element={signedIn(<Members />)} />
            <Route path="/b/:boardId" element={signedIn(<BoardView />)} />
            <Route path="/b/:boardId/c/:cardId" element={signedIn(<BoardView />)} />
            <Route path="/b/:boardId/members" element={signedIn(<BoardView panel="members" />)} />
            <Route path="/my-tasks" element={signedIn(<MyTasks />)} />
            <Route path="/account" element={signedIn(<AccountPage />)} />
            <Route path="/search" element={signedIn(<SearchPage />)} />
            <Route path="/invite/:token" element={signedIn(<AcceptInvite />)} />
            <Route path="/boards/:boardId" element={<OldCardLink />} />
            <Route path="*" element={<NotFoundPage />} />
          </Routes>
        </SessionProvider>
      </ToastProvider>
    </BrowserRouter>
  </StrictMode>,
);
