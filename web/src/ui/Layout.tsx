// The frame around every signed-in screen: brand, workspace switcher, My tasks, search, the user menu.
import { useState, type FormEvent, type ReactNode } from "react";
import { Link, NavLink, useNavigate } from "react-router-dom";
import { useSession } from "../auth/session";
import { SearchLauncher } from "../search/CommandPalette";
import { rememberWorkspace, useWorkspaces } from "../workspaces/useWorkspaces";
import { Avatar } from "./avatar";
import { useToast } from "./toast";

export function Layout({ workspaceId, children, wide }: { workspaceId?: string; children: ReactNode; wide?: boolean }) {
  const { user, signOut } = useSession();
  const { items, create } = useWorkspaces();
  const navigate = useNavigate();
  const toast = useToast();
  const [creating, setCreating] = useState(false);
  const [name, setName] = useState("");

  async function createWorkspace(e: FormEvent) {
    e.preventDefault();
    try {
      const ws = await create(name.trim());
      setCreating(false);
      setName("");
      rememberWorkspace(ws.id);
      navigate(`/w/${ws.id}`);
    } catch (err) {
      toast.error(`Could not create the workspace: ${(err as Error).message}`);
    }
  }

  return (
    <div className={wide ? "app app-wide" : "app"}>
      <header className="topbar">
        <Link to="/" className="brand">Orbitask</Link>
        <label className="switcher">
          <span className="sr-only">Workspace</span>
          <select
            aria-label="Workspace"
            value={workspaceId ?? ""}
            onChange={(e) => {
              if (e.target.value === "__new") setCreating(true);
              else if (e.target.value) {
                rememberWorkspace(e.target.value);
                navigate(`/w/${e.target.value}`);
              }
            }}
          >
            {!workspaceId && <option value="">Workspaces…</option>}
            {(items ?? []).map((w) => (
              <option key={w.id} value={w.id}>{w.name}</option>
            ))}
            <option value="__new">+ New workspace…</option>
          </select>
        </label>
        <NavLink to="/my-tasks" className="navlink">My tasks</NavLink>
        <SearchLauncher />
        <span className="spacer" />
        {user && (
          <span className="me">
            <Avatar id={user.id} name={user.name} decorative />
            <Link to="/account" className="me-name" title="Account">{user.name}</Link>
            <button className="link" onClick={() => void signOut().then(() => navigate("/signin"))}>Sign out</button>
          </span>
        )}
      </header>
      {creating && (
        <div className="modal-backdrop" onClick={() => setCreating(false)}>
          <form className="modal small" role="dialog" aria-label="New workspace" onSubmit={createWorkspace} onClick={(e) => e.stopPropagation()}>
            <h2>New workspace</h2>
            <label>
              Name
              <input autoFocus required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
            </label>
            <div className="row">
              <button className="primary" type="submit">Create workspace</button>
              <button type="button" onClick={() => setCreating(false)}>Cancel</button>
            </div>
          </form>
        </div>
      )}
      {children}
    </div>
  );
}
