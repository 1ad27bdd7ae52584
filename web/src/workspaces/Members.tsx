// Workspace members, their roles, and invitation links.
import { useCallback, useEffect, useState } from "react";
import { useParams } from "react-router-dom";
import { api, unwrap, type Invitation, type Member } from "../api/client";
import { useSession } from "../auth/session";
import { MemberRow } from "../ui/MemberRow";
import { Layout } from "../ui/Layout";
import { Failed, Loading } from "../ui/states";
import { useToast } from "../ui/toast";

const ROLES = ["owner", "admin", "member", "guest"] as const;
type Role = (typeof ROLES)[number];

export function Members() {
  const { workspaceId = "" } = useParams();
  const { user } = useSession();
  const toast = useToast();
  const [members, setMembers] = useState<Member[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [role, setRole] = useState<"admin" | "member" | "guest">("member");
  const [invite, setInvite] = useState<Invitation | null>(null);

  const load = useCallback(async () => {
    try {
      setMembers(await unwrap(api.GET("/api/v1/workspaces/{workspace_id}/members", { params: { path: { workspace_id: workspaceId } } })));
      setError(null);
    } catch (err) {
      setError((err as Error).message);
    }
  }, [workspaceId]);
  useEffect(() => void load(), [load]);

  const mine = members?.find((m) => m.user.id === user?.id)?.role;
  const canManage = mine === "owner" || mine === "admin";

  async function changeRole(m: Member, next: Role) {
    try {
      await unwrap(api.PATCH("/api/v1/workspaces/{workspace_id}/members/{user_id}", { params: { path: { workspace_id: workspaceId, user_id: m.user.id } }, body: { role: next } }));
      await load();
    } catch (err) {
      toast.error(`Could not change ${m.user.name}'s role: ${(err as Error).message}`);
    }
  }

  async function remove(m: Member) {
    try {
      await unwrap(api.DELETE("/api/v1/workspaces/{workspace_id}/members/{user_id}", { params: { path: { workspace_id: workspaceId, user_id: m.user.id } } }));
      await load();
    } catch (err) {
      toast.error(`Could not remove ${m.user.name}: ${(err as Error).message}`);
    }
  }

  async function createInvite() {
    try {
      setInvite(await unwrap(api.POST("/api/v1/workspaces/{workspace_id}/invitations", { params: { path: { workspace_id: workspaceId } }, body: { role } })));
    } catch (err) {
      toast.error(`Could not create an invitation: ${(err as Error).message}`);
    }
  }

  const link = invite?.token ? `${window.location.origin}/invite/${invite.token}` : null;

  return (
    <Layout workspaceId={workspaceId}>
      <main className="page narrow">
        <h1>Members</h1>
        {error ? <Failed message={error} retry={load} /> : members === null ? <Loading what="members" /> : (
          <ul className="member-list">
            {members.map((m) => (
              <MemberRow key={m.user.id} user={m.user} role={m.role as Role} roles={ROLES} roleLabel={`Role of ${m.user.name}`}
                editable={canManage && m.user.id !== user?.id} onRole={(r) => void changeRole(m, r)} onRemove={() => void remove(m)} />
            ))}
          </ul>
        )}
        {canManage && (
          <section className="panel">
            <h2>Invite people</h2>
            <div className="row">
              <select aria-label="Invitation role" value={role} onChange={(e) => setRole(e.target.value as typeof role)}>
                <option value="member">member</option>
                <option value="admin">admin</option>
                <option value="guest">guest</option>
              </select>
              <button className="primary" onClick={() => void createInvite()}>Create invitation link</button>
            </div>
            {link && (
              <div className="invite-link">
                <input readOnly aria-label="Invitation link" value={link} onFocus={(e) => e.target.select()} />
                <button onClick={() => void navigator.clipboard?.writeText(link).then(() => toast.info("Link copied"))}>Copy</button>
                <p className="muted">Shown once. Anyone with the link can join as {invite?.role} until {new Date(invite!.expires_at).toLocaleDateString()}.</p>
              </div>
            )}
          </section>
        )}
      </main>
    </Layout>
  );
}
