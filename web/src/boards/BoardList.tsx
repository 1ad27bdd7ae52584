// A workspace's boards: open ones as tiles, archived ones on demand; create, recolour, archive.
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { api, unwrap, type BoardSummary } from "../api/client";
import { Layout } from "../ui/Layout";
import { Empty, Failed, Loading, PALETTE, colorProps } from "../ui/states";
import { useToast } from "../ui/toast";
import { rememberWorkspace, useWorkspaces } from "../workspaces/useWorkspaces";

export function BoardList() {
  const { workspaceId = "" } = useParams();
  const { items: workspaces } = useWorkspaces();
  const workspace = workspaces?.find((w) => w.id === workspaceId);
  const navigate = useNavigate();
  const toast = useToast();
  const [archived, setArchived] = useState(false);
  const [boards, setBoards] = useState<BoardSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [name, setName] = useState("");
  const [color, setColor] = useState("blue");

  const load = useCallback(async () => {
    setError(null);
    try {
      const out = await unwrap(
        api.GET("/api/v1/workspaces/{workspace_id}/boards", { params: { path: { workspace_id: workspaceId }, query: { archived, limit: 200 } } }),
      );
      setBoards(out.items);
    } catch (err) {
      setError((err as Error).message);
    }
  }, [workspaceId, archived]);

  useEffect(() => {
    rememberWorkspace(workspaceId);
    setBoards(null);
    void load();
  }, [load, workspaceId]);

  async function create(e: FormEvent) {
    e.preventDefault();
    try {
      const board = await unwrap(
        api.POST("/api/v1/workspaces/{workspace_id}/boards", { params: { path: { workspace_id: workspaceId } }, body: { name: name.trim(), color } }),
      );
      navigate(`/b/${board.id}`);
    } catch (err) {
      toast.error(`Could not create the board: ${(err as Error).message}`);
    }
  }

  async function update(board: BoardSummary, body: { archived?: boolean; color?: string }) {
    const before = boards;
    setBoards((all) => (all ?? []).map((b) => (b.id === board.id ? { ...b, ...body } : b)).filter((b) => body.archived === undefined || b.id !== board.id));
    try {
      await unwrap(api.PATCH("/api/v1/boards/{board_id}", { params: { path: { board_id: board.id } }, body }));
    } catch (err) {
      setBoards(before);
      toast.error(`Could not change “${board.name}”: ${(err as Error).message}`);
    }
  }

  return (
    <Layout workspaceId={workspaceId}>
      <main className="page">
        <div className="page-head">
          <h1>{workspace?.name ?? "Boards"}</h1>
          <nav className="tabs">
            <button className={archived ? "" : "active"} onClick={() => setArchived(false)}>Boards</button>
            <button className={archived ? "active" : ""} onClick={() => setArchived(true)}>Archived</button>
            <Link to={`/w/${workspaceId}/members`}>Members</Link>
          </nav>
        </div>
        {!archived && (
          <form className="new-board" onSubmit={create} aria-label="Create a board">
            <input placeholder="New board name" aria-label="New board name" required maxLength={200} value={name} onChange={(e) => setName(e.target.value)} />
            <ColorPicker value={color} onChange={setColor} />
            <button className="primary" type="submit">Create board</button>
          </form>
        )}
        {error ? (
          <Failed message={error} retry={load} />
        ) : boards === null ? (
          <Loading what="boards" />
        ) : boards.length === 0 ? (
          <Empty>{archived ? "No archived boards." : "No boards yet: create the first one above."}</Empty>
        ) : (
          <ul className="board-grid">
            {boards.map((b) => {
              const c = colorProps(b.color);
              return (
                <li key={b.id} className={`board-tile ${c.className}`} style={c.style}>
                  <Link to={`/b/${b.id}`} className="board-tile-name">{b.name}</Link>
                  <div className="board-tile-actions">
                    <ColorPicker value={b.color} onChange={(color) => void update(b, { color })} compact />
                    <button className="link light" onClick={() => void update(b, { archived: !archived })}>
                      {archived ? "Restore" : "Archive"}
                    </button>
                  </div>
                </li>
              );
            })}
          </ul>
        )}
      </main>
    </Layout>
  );
}

export function ColorPicker({ value, onChange, compact }: { value: string; onChange: (c: string) => void; compact?: boolean }) {
  return (
    <select aria-label="Colour" className={compact ? "color-select compact" : "color-select"} value={PALETTE.includes(value) ? value : ""} onChange={(e) => onChange(e.target.value)}>
      {!PALETTE.includes(value) && <option value="">custom</option>}
      {PALETTE.map((p) => (
        <option key={p} value={p}>{p}</option>
      ))}
    </select>
  );
}
