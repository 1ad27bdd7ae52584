// What the palette and the results page share: the caller's boards, a hit's snippet.
import { useEffect, useState } from "react";
import { api, unwrap, type BoardSummary } from "../api/client";
import { useWorkspaces } from "../workspaces/useWorkspaces";
import { matchedWhere, snippetSegments, type SearchHit, type Segment } from "./search";

export type BoardChoice = BoardSummary & { workspace_id: string; workspace_name: string };

const PAGES = 5; // 1,000 boards per workspace: more than a palette or a select can offer anyway

/** The open boards of every workspace the caller is in, as the workspace screens list them. */
export function useAllBoards(): { boards: BoardChoice[] | null; error: string | null } {
  const { items: workspaces, error: wsError } = useWorkspaces();
  const [boards, setBoards] = useState<BoardChoice[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!workspaces) return;
    let live = true;
    Promise.all(
      workspaces.map(async (w) => {
        const all: BoardChoice[] = [];
        let cursor: string | undefined;
        for (let page = 0; page < PAGES; page++) {
          const out = await unwrap(
            api.GET("/api/v1/workspaces/{workspace_id}/boards", { params: { path: { workspace_id: w.id }, query: { limit: 200, cursor } } }),
          );
          all.push(...out.items.map((b) => ({ ...b, workspace_id: w.id, workspace_name: w.name })));
          if (!out.next_cursor) break;
          cursor = out.next_cursor;
        }
        return all;
      }),
    ).then(
      (lists) => live && setBoards(lists.flat()),
      (err: Error) => live && setError(err.message),
    );
    return () => {
      live = false;
    };
  }, [workspaces]);
  return { boards, error: error ?? wsError };
}

/** Segments as text nodes and <mark> elements: a snippet is never parsed as markup. */
export function Highlighted({ segments }: { segments: readonly Segment[] }) {
  return (
    <>
      {snippetSegments(segments).map((s, i) => (s.match ? <mark key={i}>{s.text}</mark> : <span key={i}>{s.text}</span>))}
    </>
  );
}

/** A hit's words: its title (highlighted when the title matched), where it lives, and the snippet that matched. */
export function HitText({ hit }: { hit: SearchHit }) {
  const where = matchedWhere(hit.matched);
  return (
    <>
      <span className="hit-title">{hit.matched === "title" && hit.snippet.length ? <Highlighted segments={hit.snippet} /> : hit.card.title}</span>
      <span className="hit-where">
        {hit.board.name} › {hit.list.name}
        {hit.card.archived && <span className="pill">archived</span>}
      </span>
      {hit.matched !== "title" && hit.snippet.length > 0 && (
        <span className="hit-snippet">
          <span className="hit-kind">{where}: </span>
          <Highlighted segments={hit.snippet} />
        </span>
      )}
    </>
  );
}
