// Unsent text kept per tab in sessionStorage (a card's comment, its description), so a lost session, a
// reload or a closed dialog does not lose it; cleared once the text is saved.
import { useCallback, useEffect, useState } from "react";

const PREFIX = "orbitask:draft:";

function read(key: string): string {
  try {
    return sessionStorage.getItem(PREFIX + key) ?? "";
  } catch {
    return ""; // storage refused (privacy settings): drafts live only as long as the page
  }
}

function write(key: string, value: string): void {
  try {
    if (value) sessionStorage.setItem(PREFIX + key, value);
    else sessionStorage.removeItem(PREFIX + key);
  } catch {
    // storage full or refused: the text is still on screen
  }
}

/** A text field's value that survives the page: [value, set, clear]. `key` names the card and the field. */
export function useDraft(key: string): [string, (value: string) => void, () => void] {
  const [state, setState] = useState(() => ({ key, value: read(key) }));
  useEffect(() => {
    if (state.key !== key) setState({ key, value: read(key) });
  }, [key, state.key]);
  const set = useCallback((value: string) => {
    write(key, value);
    setState({ key, value });
  }, [key]);
  const clear = useCallback(() => set(""), [set]);
  return [state.key === key ? state.value : read(key), set, clear];
}
