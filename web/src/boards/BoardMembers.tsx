// The board's members: who sees the board and with which role; board admins add workspace members,
// change roles and remove people. Outsiders are invited to the workspace first (its Members page).
import { useEffect, useRef, useState, type FormEvent } from "react";
import { Link } from "react-router-dom";
import { api, unwrap, type BoardMember, type Member } from "../api/client";
import { useSession } from "../auth/session";
import { MemberRow } from "../ui/MemberRow";
import { Failed, Loading } from "../ui/states";
import { useDialogFocus } from "../ui/dialog";
import { useToast } from "../ui/toast";
import { addable } from "./members";

const ROLES = ["admin", "editor", "commenter", "viewer"] as const;
type Role = (typeof ROLES)[number];

interface Props {
  boardId: string;
  workspaceId: string;
  role: string;
  members: BoardMember[];
  reload(): Promise<boolean>;
  close(): void;
}

export function BoardMembers({ boardId, workspaceId, role, members, reload, close }: Props) {
  const { user } = useSession();
  const toast = useToast();
  const isAdmin = role === "admin";
  const [workspace, setWorkspace] = useState<Member[] | null>(null);
  const [wsError, setWsError] = useState<string | null>(null);
  const [pick, setPick] = useState("");
  const [newRole, setNewRole] = useState<Role>("editor");
  const dialog = useRef<HTMLDivElement>(null);

  useDialogFocus(dialog, close);

  useEffect(() => {
    if (!isAdmin) return;
    unwrap(api.GET("/api/v1/workspaces/{workspace_id}/members", { params: { path: { workspace_id: workspaceId } } }))
      .then((all) => { setWorkspace(all); setWsError(null); })
      .catch((err: Error) => setWsError(err.message));
  }, [isAdmin, workspaceId]);

  const candidates = workspace ? addable(workspace, members) : [];
  const chosen = candidates.some((m) => m.user.id === pick) ? pick : (candidates[0]?.user.id ?? "");

  const change = async <T,>(call: Promise<{ data?: T; error?: unknown; response: Response }>, what: string): Promise<boolean> => {
    try {
      await unwrap(call);
      await reload(); // live events bring it too; this way it shows even while reconnecting
      return true;
    } catch (err) {
      toast.error(`Could not ${what}: ${(err as Error).message}`);
      return false;
    }
  };

  async function add(e: FormEvent) {
    e.preventDefault();
    const who = candidates.find((m) => m.user.id === chosen);
    if (!who) return;
    const body = { user_id: who.user.id, role: newRole };
    if (await change(api.POST("/api/v1/boards/{board_id}/members", { params: { path: { board_id: boardId } }, body }), `add ${who.user.name}`)) {
      toast.info(`${who.user.name} was added as ${newRole}.`);
      setPick("");
    }
  }

  const path = (m: BoardMember) => ({ params: { path: { board_id: boardId, user_id: m.user.id } } });

  return (
    <div className="modal-backdrop" onMouseDown={(e) => e.target === e.currentTarget && close()}>
      <div className="modal board-members" role="dialog" aria-modal="true" aria-label="Board members" ref={dialog} tabIndex={-1}>
        <button className="icon close" aria-label="Close" onClick={close}>×</button>
        <h2>Board members</h2>
        <ul className="member-list" aria-label="People on this board">
          {members.map((m) => (
            <MemberRow key={m.user.id} testId="board-member" user={m.user} role={m.role as Role} roles={ROLES}
              roleLabel={`Board role of ${m.user.name}`} editable={isAdmin && m.explicit !== false && m.user.id !== user?.id}
              note={m.explicit === false && <span className="muted"> · through the workspace</span>}
              onRole={(r) => void change(api.PATCH("/api/v1/boards/{board_id}/members/{user_id}", { ...path(m), body: { role: r } }), `change ${m.user.name}'s role`)}
              onRemove={() => void change(api.DELETE("/api/v1/boards/{board_id}/members/{user_id}", path(m)), `remove ${m.user.name}`)} />
          ))}
        </ul>
        {isAdmin && (
          <section className="panel">
            <h3>Add someone from this workspace</h3>
            {wsError ? <Failed message={wsError} /> : workspace === null ? <Loading what="the workspace's members" /> : candidates.length === 0 ? (
              <p className="muted">Everyone in this workspace is on this board already.</p>
            ) : (
              <form className="row" onSubmit={(e) => void add(e)}>
                <select aria-label="Person to add" value={chosen} onChange={(e) => setPick(e.target.value)}>
                  {candidates.map((m) => <option key={m.user.id} value={m.user.id}>{m.user.name} ({m.user.email})</option>)}
                </select>
                <select aria-label="Board role" value={newRole} onChange={(e) => setNewRole(e.target.value as Role)}>
                  {ROLES.map((r) => <option key={r}>{r}</option>)}
                </select>
                <button className="primary" type="submit">Add to board</button>
              </form>
            )}
            <p className="muted" data-testid="invite-hint">
              Only people in this workspace can be added. To bring in someone else, a workspace admin makes an
              invitation link on the workspace's <Link to={`/w/${workspaceId}/members`}>Members page</Link>; once they
              have accepted it, add them here.
            </p>
          </section>
        )}
      </div>
    </div>
  );
}
