import { StrictMode, type ReactNode } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter, Navigate, Route, Routes, useLocation } from "react-router-dom";
import { AuthPage } from "./auth/AuthPage";
import { SessionProvider, useSession } from "./auth/session";
import { VerifySignup } from "./auth/VerifySignup";
import { BoardList } from "./boards/BoardList";
import { BoardView } from "./boards/BoardView";
import { prefetchBoard } from "./boards/useBoard";
import { SearchPage } from "./search/SearchPage";
import { MyTasks } from "./tasks/MyTasks";
import { Loading, Failed } from "./ui/states";
import { ToastProvider } from "./ui/toast";
import { AcceptInvite } from "./workspaces/AcceptInvite";
import { Members } from "./workspaces/Members";
import { WorkspacesProvider, lastWorkspace, useWorkspaces } from "./workspaces/useWorkspaces";
import "./styles.css";

function RequireUser({ children }: { children: ReactNode }) {
  const { user, loading } = useSession();
  const location = useLocation();
  if (loading) return <Loading what="Orbitask" />;
  if (!user) return <Navigate to="/signin" replace state={{ from: location.pathname + location.search }} />;
  return <WorkspacesProvider>{children}</WorkspacesProvider>;
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
  if (loading) return <Loading what="Orbitask" />;
  return user ? <Navigate to="/" replace /> : <>{children}</>;
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
            <Route path="/" element={signedIn(<Home />)} />
            <Route path="/w/:workspaceId" element={signedIn(<BoardList />)} />
            <Route path="/w/:workspaceId/members" element={signedIn(<Members />)} />
            <Route path="/b/:boardId" element={signedIn(<BoardView />)} />
            <Route path="/b/:boardId/c/:cardId" element={signedIn(<BoardView />)} />
            <Route path="/b/:boardId/members" element={signedIn(<BoardView panel="members" />)} />
            <Route path="/my-tasks" element={signedIn(<MyTasks />)} />
            <Route path="/search" element={signedIn(<SearchPage />)} />
            <Route path="/invite/:token" element={signedIn(<AcceptInvite />)} />
            <Route path="*" element={<Failed message="There is nothing at this address." />} />
          </Routes>
        </SessionProvider>
      </ToastProvider>
    </BrowserRouter>
  </StrictMode>,
);
