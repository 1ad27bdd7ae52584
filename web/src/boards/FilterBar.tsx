// Filters by text, label, member and due state; kept in the URL.
import type { BoardMember, Label } from "../api/client";
import { isFiltering, noFilters, type DueFilter, type Filters } from "./filters";

export function FilterBar({ filters, onChange, labels, members }: { filters: Filters; onChange: (f: Filters) => void; labels: Label[]; members: BoardMember[] }) {
  return (
    <div className="filters" role="search">
      <input type="search" aria-label="Filter cards by text" placeholder="Filter cards…" value={filters.text} onChange={(e) => onChange({ ...filters, text: e.target.value })} />
      <select aria-label="Filter by label" value={filters.labelId} onChange={(e) => onChange({ ...filters, labelId: e.target.value })}>
        <option value="">Any label</option>
        {labels.map((l) => <option key={l.id} value={l.id}>{l.name || l.color}</option>)}
      </select>
      <select aria-label="Filter by member" value={filters.memberId} onChange={(e) => onChange({ ...filters, memberId: e.target.value })}>
        <option value="">Anyone</option>
        {members.map((m) => <option key={m.user.id} value={m.user.id}>{m.user.name}</option>)}
      </select>
      <select aria-label="Filter by due date" value={filters.due} onChange={(e) => onChange({ ...filters, due: e.target.value as DueFilter })}>
        <option value="">Any due date</option>
        <option value="overdue">Overdue</option>
        <option value="soon">Due within a day</option>
        <option value="done">Done</option>
        <option value="none">No due date</option>
      </select>
      {isFiltering(filters) && <button className="link" onClick={() => onChange(noFilters)}>Clear</button>}
    </div>
  );
}
