// The results page at /search?q=…: the query, filters, hits with snippets and "Load more"; all state in the URL.
import { useEffect, useRef, useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { ApiError } from "../api/client";
import { useSession } from "../auth/session";
import { Layout } from "../ui/Layout";
import { Empty, Failed, Loading } from "../ui/states";
import {
  DUE_CHOICES, apiQuery, cardPath, formatSearchState, parseSearchState, type DueChoice, type SearchHit, type SearchState,
} from "./search";
import { searchCards } from "../api/search";
import { HitText, useAllBoards } from "./shared";

const PAGE = 25;
const TYPING_MS = 300;

type Results =
  | { state: "idle" }
  | { state: "loading" }
  | { state: "failed"; error: Error }
  | { state: "done"; items: SearchHit[]; next: string | null; loadingMore: boolean; moreError: string | null };

export function SearchPage() {
  const [params, setParams] = useSearchParams();
  const search = parseSearchState(params);
  const key = formatSearchState(search).toString();
  const { user } = useSession();
  const { boards } = useAllBoards();
  const [text, setText] = useState(search.q);
  const [results, setResults] = useState<Results>({ state: "idle" });
  const inflight = useRef<AbortController | null>(null);
  const written = useRef(search.q);

  const update = (patch: Partial<SearchState>) => {
    const next = { ...search, ...patch };
    written.current = next.q;
    setParams(formatSearchState(next), { replace: true });
  };

  useEffect(() => {
    // the URL changed underneath (back, the palette's "See all"); our own writes must not undo newer typing
    if (search.q !== written.current) setText((written.current = search.q));
  }, [search.q]);

  const pending = text !== search.q;
  useEffect(() => {
    if (!pending) return;
    const timer = setTimeout(() => update({ q: text }), TYPING_MS);
    return () => clearTimeout(timer);
  }, [text, key]); // restarts on each keystroke; a filter change meanwhile carries the newest filters

  useEffect(() => {
    const state = parseSearchState(new URLSearchParams(key));
    if (!state.q.trim()) {
      setResults({ state: "idle" });
      return;
    }
    const controller = new AbortController();
    inflight.current = controller;
    setResults({ state: "loading" });
    searchCards(apiQuery(state, { userId: user?.id, limit: PAGE }), controller.signal).then(
      (page) => !controller.signal.aborted && setResults({ state: "done", items: page.items, next: page.next_cursor ?? null, loadingMore: false, moreError: null }),
      (error: Error) => !controller.signal.aborted && setResults({ state: "failed", error }),
    );
    return () => controller.abort();
  }, [key, user?.id]);

  async function loadMore() {
    const controller = inflight.current;
    if (results.state !== "done" || !results.next || !controller) return;
    setResults({ ...results, loadingMore: true, moreError: null });
    try {
      const page = await searchCards(apiQuery(search, { userId: user?.id, limit: PAGE, cursor: results.next }), controller.signal);
      if (controller.signal.aborted) return;
      setResults((r) => r.state === "done" ? { ...r, items: [...r.items, ...page.items], next: page.next_cursor ?? null, loadingMore: false } : r);
    } catch (err) {
      if (!controller.signal.aborted) setResults((r) => (r.state === "done" ? { ...r, loadingMore: false, moreError: (err as Error).message } : r));
    }
  }

  function submit(e: FormEvent) {
    e.preventDefault();
    update({ q: text });
  }

  const invalid = results.state === "failed" && results.error instanceof ApiError && results.error.status === 422;
  const workspaces = [...new Set((boards ?? []).map((b) => b.workspace_name))];
  const filtered = !!(search.boardId || search.due || search.archived || search.mine);
  const knownBoard = !search.boardId || (boards ?? []).some((b) => b.id === search.boardId);

  return (
    <Layout>
      <main className="page narrow search-page">
        <h1>Search</h1>
        <form className="search-form" role="search" aria-label="Cards" onSubmit={submit}>
          <input type="search" aria-label="Search cards" aria-describedby={invalid ? "search-invalid" : undefined} placeholder="Words, “a phrase”, or the start of a word"
            maxLength={500} value={text} onChange={(e) => setText(e.target.value)} />
          <button className="primary" type="submit">Search</button>
        </form>
        {invalid && <p id="search-invalid" className="palette-note">{results.error.message}</p>}
        <div className="search-filters">
          <select aria-label="Board" value={search.boardId} onChange={(e) => update({ boardId: e.target.value })}>
            <option value="">All boards</option>
            {!knownBoard && <option value={search.boardId}>The board in the link</option>}
            {workspaces.map((w) => (
              <optgroup key={w} label={w}>
                {(boards ?? []).filter((b) => b.workspace_name === w).map((b) => <option key={b.id} value={b.id}>{b.name}</option>)}
              </optgroup>
            ))}
          </select>
          <select aria-label="Due date" value={search.due} onChange={(e) => update({ due: e.target.value as DueChoice })}>
            {DUE_CHOICES.map(([value, label]) => <option key={value} value={value}>{label}</option>)}
          </select>
          <label className="check">
            <input type="checkbox" checked={search.archived} onChange={(e) => update({ archived: e.target.checked })} /> Archived cards only
          </label>
          <label className="check">
            <input type="checkbox" checked={search.mine} onChange={(e) => update({ mine: e.target.checked })} /> Assigned to me
          </label>
        </div>
        <section className="search-results" aria-labelledby="search-results-heading">
          <h2 id="search-results-heading">Results</h2>
          {results.state === "idle" ? (
            <Empty>Type words to search card titles, descriptions, comments, checklist items and file names on every board you can open.</Empty>
          ) : results.state === "loading" ? (
            <Loading what="results" />
          ) : results.state === "failed" ? (
            invalid ? null : <Failed message={results.error.message} />
          ) : results.items.length === 0 ? (
            <Empty>No cards match “{search.q.trim()}”{filtered ? " with these filters" : ""}.</Empty>
          ) : (
            <>
              <ol className="hit-list">
                {results.items.map((hit) => (
                  <li key={hit.card.id} className="hit" data-testid="search-hit">
                    <Link to={cardPath(hit)} className="hit-link"><HitText hit={hit} /></Link>
                  </li>
                ))}
              </ol>
              {results.moreError && <p className="error" role="alert">{results.moreError}</p>}
              {results.next && (
                <button type="button" onClick={() => void loadMore()} disabled={results.loadingMore}>
                  {results.loadingMore ? "Loading…" : "Load more"}
                </button>
              )}
            </>
          )}
        </section>
      </main>
    </Layout>
  );
}
