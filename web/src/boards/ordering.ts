// Fractional-index positions, the same scheme as the server (orbitask.core.ordering).
import { generateKeyBetween } from "fractional-indexing";

export interface Positioned {
  id: string;
  position: string;
}

/** Server order: by position, ties broken by id. */
export function byPosition(a: Positioned, b: Positioned): number {
  if (a.position !== b.position) return a.position < b.position ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** A position strictly between two neighbours (null: the open end); null when the keys cannot be split. */
export function positionBetween(after: string | null, before: string | null): string | null {
  try {
    return generateKeyBetween(after, before);
  } catch {
    return null;
  }
}

export interface Placement {
  afterId: string | null;
  beforeId: string | null;
  position: string;
}

/**
 * Where an item lands when it is put at `index` of `siblings` (sorted, without the item itself):
 * the neighbour ids the API wants and the position to show until the server answers.
 */
export function placeAt(siblings: Positioned[], index: number): Placement {
  const i = Math.max(0, Math.min(index, siblings.length));
  const after = i > 0 ? siblings[i - 1] : null;
  const before = i < siblings.length ? siblings[i] : null;
  const position =
    positionBetween(after?.position ?? null, before?.position ?? null) ?? `${after?.position ?? ""}~`;
  // items still being created have no server id yet: anchor on the nearest real neighbours
  const real = (s: Positioned | undefined) => (s && !isTemporary(s.id) ? s.id : null);
  const afterId = siblings.slice(0, i).reverse().map(real).find((x) => x !== null) ?? null;
  const beforeId = siblings.slice(i).map(real).find((x) => x !== null) ?? null;
  return { afterId, beforeId, position };
}

/** Ids given to optimistic items until the server answers. */
export function isTemporary(id: string): boolean {
  return id.startsWith("tmp-");
}
