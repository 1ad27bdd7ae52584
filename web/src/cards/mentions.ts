// @mention autocomplete: which handle is being typed, who matches, and the text after picking one.

export interface Person {
  id: string;
  name: string;
  email: string;
}

/** The partial handle right before the caret ("@al|" -> {start, query: "al"}), or null. */
export function mentionAt(text: string, caret: number): { start: number; query: string } | null {
  const before = text.slice(0, caret);
  const m = /(^|[^\w@])@([\w.%+-]*)$/.exec(before);
  if (!m) return null;
  return { start: caret - m[2].length - 1, query: m[2] };
}

/** People whose name or e-mail starts a word with the query, best first, at most `limit`. */
export function suggest(people: Person[], query: string, limit = 6): Person[] {
  const q = query.toLowerCase();
  const score = (p: Person) => {
    const name = p.name.toLowerCase();
    const email = p.email.toLowerCase();
    if (email.startsWith(q) || name.startsWith(q)) return 0;
    if (name.split(/\s+/).some((w) => w.startsWith(q))) return 1;
    return email.includes(q) || name.includes(q) ? 2 : -1;
  };
  return people
    .map((p) => [score(p), p] as const)
    .filter(([s]) => s >= 0)
    .sort((a, b) => a[0] - b[0] || a[1].name.localeCompare(b[1].name))
    .slice(0, limit)
    .map(([, p]) => p);
}

/** Replace the partial handle with the person's name, as people write it (`@Ann Lee`). */
export function insertMention(text: string, start: number, caret: number, person: Person): { text: string; caret: number } {
  const handle = `@${person.name} `;
  return { text: text.slice(0, start) + handle + text.slice(caret), caret: start + handle.length };
}

/** Who the text mentions by name (`@Ann Lee`, the longest name that fits at each @), for the server's
 * `mentions` list: it still reads @e-mail handles typed by hand from the text itself. */
export function mentionedIds(text: string, people: Person[]): string[] {
  const byLength = [...people].sort((a, b) => b.name.length - a.name.length);
  const found: string[] = [];
  const at = /(^|[^\w@])@/g;
  for (let m = at.exec(text); m; m = at.exec(text)) {
    const from = m.index + m[0].length;
    const rest = text.slice(from).toLowerCase();
    const who = byLength.find((p) => p.name && rest.startsWith(p.name.toLowerCase()) && !/^\w/.test(rest.slice(p.name.length)));
    if (who && !found.includes(who.id)) found.push(who.id);
  }
  return found;
}
