// A comment box with @mention autocomplete (arrow keys, Enter or Tab to pick, Escape to close).
import { useId, useRef, useState } from "react";
import { insertMention, mentionAt, suggest, type Person } from "./mentions";

interface Props {
  people: Person[];
  value: string;
  onChange: (v: string) => void;
  onSubmit: () => void;
  label: string;
  /** Escape (with no suggestions open): give up editing. */
  onCancel?: () => void;
  autoFocus?: boolean;
}

export function MentionBox({ people, value, onChange, onSubmit, label, onCancel, autoFocus }: Props) {
  const ref = useRef<HTMLTextAreaElement>(null);
  const listId = useId(); // an edited comment's box and the new comment's box are on screen together
  const [at, setAt] = useState<{ start: number; query: string } | null>(null);
  const [active, setActive] = useState(0);
  const options = at ? suggest(people, at.query) : [];

  function update(text: string, caret: number) {
    onChange(text);
    setAt(mentionAt(text, caret));
    setActive(0);
  }

  function pick(p: Person) {
    const el = ref.current!;
    const out = insertMention(value, at!.start, el.selectionStart, p);
    onChange(out.text);
    setAt(null);
    requestAnimationFrame(() => {
      el.focus();
      el.setSelectionRange(out.caret, out.caret);
    });
  }

  return (
    <div className="mention-box">
      <textarea
        ref={ref}
        aria-label={label}
        autoFocus={autoFocus}
        placeholder="Write a comment… (@ to mention, Ctrl+Enter to send)"
        maxLength={16384}
        value={value}
        role="combobox"
        aria-expanded={options.length > 0}
        aria-controls={listId}
        aria-autocomplete="list"
        onChange={(e) => update(e.target.value, e.target.selectionStart)}
        onKeyDown={(e) => {
          if (options.length) {
            if (e.key === "ArrowDown") { e.preventDefault(); setActive((active + 1) % options.length); return; }
            if (e.key === "ArrowUp") { e.preventDefault(); setActive((active - 1 + options.length) % options.length); return; }
            if (e.key === "Enter" || e.key === "Tab") { e.preventDefault(); pick(options[active]); return; }
            if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); setAt(null); return; }
          }
          if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); onSubmit(); }
          // preventDefault: the card dialog leaves Escape alone then, only the edit is given up
          else if (e.key === "Escape" && onCancel) { e.preventDefault(); onCancel(); }
        }}
        onBlur={() => setTimeout(() => setAt(null), 150)}
      />
      {options.length > 0 && (
        <ul className="mention-options" id={listId} role="listbox" aria-label="People">
          {options.map((p, i) => (
            <li key={p.id} role="option" aria-selected={i === active} className={i === active ? "active" : ""}
              onMouseDown={(e) => { e.preventDefault(); pick(p); }}>
              <strong>{p.name}</strong> <span className="muted">{p.email}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
