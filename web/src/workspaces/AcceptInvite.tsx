// /invite/:token — join a workspace through a link (after signing in).
import { useEffect, useState } from "react";
import { useNavigate, useParams } from "react-router-dom";
import { api, unwrap } from "../api/client";
import { Failed, Loading } from "../ui/states";
import { rememberWorkspace, useWorkspaces } from "./useWorkspaces";

export function AcceptInvite() {
  const { token = "" } = useParams();
  const navigate = useNavigate();
  const { reload } = useWorkspaces();
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    unwrap(api.POST("/api/v1/invitations/{token}/accept", { params: { path: { token } } }))
      .then(async (out) => {
        rememberWorkspace(out.workspace.id);
        await reload();
        navigate(`/w/${out.workspace.id}`, { replace: true });
      })
      .catch((err: Error) => setError(err.message));
  }, [token, navigate, reload]);
  return <main className="page narrow">{error ? <Failed message={`This invitation cannot be used: ${error}`} /> : <Loading what="the invitation" />}</main>;
}
