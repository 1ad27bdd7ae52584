// The command palette: Ctrl-K / Cmd-K (or / outside text fields) anywhere, boards and cards as you type.
import { useEffect, useMemo, useRef, useState, type KeyboardEvent as ReactKeyboardEvent, type MouseEvent } from "react";
import { createPortal } from "react-dom";
import { useNavigate } from "react-router-dom";
import { ApiError } from "../api/client";
import { useDialogFocus } from "../ui/dialog";
import {
  apiQuery, cardPath, createSearcher, emptySearch, formatSearchState, markMatches, matchBoards, moveActive, opensPalette,
  type SearchHit, type SearchPage, type SearchStatus, type Searcher,
} from "./search";
import { searchCards } from "../api/search";
import { Highlighted, HitText, useAllBoards, type BoardChoice } from "./shared";

const CARDS = 8;
const BOARDS = 5;

type Option =
  | { kind: "board"; board: BoardChoice; path: string }
  | { kind: "card"; hit: SearchHit; path: string }
  | { kind: "all"; path: string };

const optionId = (i: number) => `palette-option-${i}`;

/** The top bar's Search button, and the shortcuts that open the palette from anywhere. */
export function SearchLauncher() {
  const [open, setOpen] = useState(false);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented || !opensPalette(e, document.activeElement as HTMLElement | null)) return;
      e.preventDefault(); // Ctrl-K is the browser's own search box otherwise
      setOpen(true);
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
  const mac = typeof navigator !== "undefined" && /Mac|iPhone|iPad/.test(navigator.userAgent);
  return (
    <>
      <button type="button" className="search-button" aria-keyshortcuts="Control+K Meta+K /" onClick={() => setOpen(true)}>
        <span aria-hidden="true">⌕ </span>Search <kbd aria-hidden="true">{mac ? "⌘K" : "Ctrl K"}</kbd>
      </button>
      {open && <CommandPalette close={() => setOpen(false)} />}
    </>
  );
}

export function CommandPalette({ close }: { close: () => void }) {
  const navigate = useNavigate();
  const input = useRef<HTMLInputElement>(null);
  const [q, setQ] = useState("");
  const [status, setStatus] = useState<SearchStatus<SearchPage>>({ state: "idle" });
  const [hits, setHits] = useState<SearchHit[]>([]);
  const [active, setActive] = useState(0);
  const { boards } = useAllBoards();
  useDialogFocus(input, close);

  const searcher = useRef<Searcher | null>(null);
  useEffect(() => {
    const s = createSearcher<SearchPage>(
      (text, signal) => searchCards(apiQuery({ ...emptySearch, q: text }, { limit: CARDS }), signal),
      (next) => {
        setStatus(next);
        if (next.state === "done") setHits(next.value.items);
        else if (next.state !== "loading") setHits([]);
      },
    );
    searcher.current = s;
    return () => s.cancel();
  }, []);

  const options = useMemo<Option[]>(() => {
    if (!q.trim()) return [];
    const all = `/search?${formatSearchState({ ...emptySearch, q: q.trim() }).toString()}`;
    return [
      ...matchBoards(boards ?? [], q, BOARDS).map((board) => ({ kind: "board" as const, board, path: `/b/${board.id}` })),
      ...hits.map((hit) => ({ kind: "card" as const, hit, path: cardPath(hit) })),
      { kind: "all" as const, path: all },
    ];
  }, [q, boards, hits]);
  const current = Math.min(active, options.length - 1);

  function type(value: string) {
    setQ(value);
    setActive(0);
    searcher.current?.request(value);
  }

  function open(option: Option | undefined) {
    if (!option) return;
    close();
    navigate(option.path);
  }

  function onKeyDown(e: ReactKeyboardEvent<HTMLInputElement>) {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      setActive(moveActive(current, options.length, e.key === "ArrowDown" ? 1 : -1));
    } else if (e.key === "Enter") {
      e.preventDefault();
      open(options[current]);
    } else if (e.key === "Escape") {
      e.preventDefault(); // only the palette closes, not a card dialog under it
      close();
    } else if (e.key === "Tab") {
      e.preventDefault(); // the input is the dialog's one stop: options are chosen with the arrows
    }
  }

  const failure = status.state === "failed" ? status.error : null;
  const invalid = failure instanceof ApiError && failure.status === 422 ? failure.message : null;
  const boardOptions = options.filter((o) => o.kind === "board");
  const cardOptions = options.filter((o) => o.kind === "card");
  const optionProps = (o: Option) => {
    const i = options.indexOf(o);
    return {
      id: optionId(i),
      role: "option",
      "aria-selected": i === current,
      className: i === current ? "palette-option active" : "palette-option",
      onMouseDown: (e: MouseEvent) => e.preventDefault(), // the input keeps the focus
      onMouseMove: () => i !== current && setActive(i),
      onClick: () => open(o),
    } as const;
  };

  // in <body>, not in the top bar's banner landmark where its button is
  return createPortal(
    <div className="modal-backdrop palette-backdrop" onMouseDown={close}>
      <div className="modal palette" role="dialog" aria-modal="true" aria-labelledby="palette-heading" onMouseDown={(e) => e.stopPropagation()}>
        <h2 id="palette-heading" className="sr-only">Search</h2>
        <input
          ref={input}
          className="palette-input"
          type="text"
          role="combobox"
          aria-label="Search cards and boards"
          aria-autocomplete="list"
          aria-expanded={options.length > 0}
          aria-controls={options.length ? "palette-options" : undefined}
          aria-activedescendant={current >= 0 ? optionId(current) : undefined}
          aria-describedby={invalid ? "palette-invalid" : undefined}
          placeholder="Search cards and boards…"
          autoComplete="off"
          spellCheck={false}
          maxLength={500}
          value={q}
          onChange={(e) => type(e.target.value)}
          onKeyDown={onKeyDown}
        />
        {invalid && <p id="palette-invalid" className="palette-note">{invalid}</p>}
        <div className="palette-status" role="status">
          {!q.trim() ? (
            <span className="muted">Type to search card titles, descriptions, comments, checklists and file names.</span>
          ) : status.state === "loading" ? (
            <span className="muted"><span className="spinner" aria-hidden="true" /> Searching…</span>
          ) : status.state === "done" && !hits.length && !boardOptions.length ? (
            <span className="muted">Nothing matches “{status.q}”.</span>
          ) : null}
        </div>
        {failure !== null && !invalid && (
          <p className="palette-error" role="alert">{failure instanceof Error ? failure.message : "The search failed."}</p>
        )}
        {options.length > 0 && (
          <div id="palette-options" className="palette-options" role="listbox" aria-label="Results">
            {boardOptions.length > 0 && (
              <div role="group" aria-labelledby="palette-boards">
                <div id="palette-boards" className="palette-group">Boards</div>
                {boardOptions.map((o) => o.kind === "board" && (
                  <div key={o.board.id} {...optionProps(o)}>
                    <span className="hit-title"><Highlighted segments={markMatches(o.board.name, q)} /></span>
                    <span className="hit-where">{o.board.workspace_name}</span>
                  </div>
                ))}
              </div>
            )}
            {cardOptions.length > 0 && (
              <div role="group" aria-labelledby="palette-cards">
                <div id="palette-cards" className="palette-group">Cards</div>
                {cardOptions.map((o) => o.kind === "card" && (
                  <div key={o.hit.card.id} data-testid="palette-card" {...optionProps(o)}>
                    <HitText hit={o.hit} />
                  </div>
                ))}
              </div>
            )}
            {options.map((o) => o.kind === "all" && (
              <div key="all" {...optionProps(o)}>See all results for “{q.trim()}”</div>
            ))}
          </div>
        )}
      </div>
    </div>,
    document.body,
  );
}
