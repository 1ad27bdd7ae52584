// A board screen's data: snapshot, live events, and user actions as optimistic operations.
import { useCallback, useEffect, useMemo, useReducer, useRef, useState } from "react";
import type { Attachment } from "../api/attachments";
import { api, unwrap, type BoardSnapshot, type Card, type List } from "../api/client";
import { newId } from "../api/http";
import { useToast } from "../ui/toast";
import { LiveBoard, type LiveStatus } from "./live";
import { byPosition, placeAt } from "./ordering";
import { fromSnapshot, initialState, reducer, view, type BoardData, type Op } from "./state";
import * as trash from "./trash";

export interface BoardActions {
  createCard(listId: string, title: string): Promise<void>;
  updateCard(cardId: string, patch: Partial<Card>, what?: string): Promise<boolean>;
  /** Move a card; a toast offers to put it back where it was (unless `undo` is false: that is the undo). */
  moveCard(cardId: string, listId: string, index: number, undo?: boolean): Promise<void>;
  /** Archive a card, then offer Undo. */
  archiveCard(cardId: string): Promise<void>;
  /** Move a card to the board's trash, then offer Undo. */
  deleteCard(cardId: string): Promise<void>;
  /** Bring a card back from the trash (true when it is back). */
  restoreCard(cardId: string): Promise<boolean>;
  createList(name: string): Promise<void>;
  renameList(listId: string, name: string): Promise<void>;
  /** Archive a list, then offer Undo. */
  archiveList(listId: string): Promise<void>;
  /** Put an archived list back on the board with its cards. */
  unarchiveList(listId: string): Promise<boolean>;
  /** Move a list and its cards to the board's trash, then offer Undo. */
  deleteList(listId: string): Promise<void>;
  /** Bring a list back from the trash with the cards deleted with it. */
  restoreList(listId: string): Promise<boolean>;
  moveList(listId: string, index: number): Promise<void>;
  /** Apply a card the server returned (label, assignee and checklist calls answer with it). */
  upsertCards(cards: Card[]): void;
  /** A card's attachment list as loaded; events keep it current from then on. */
  attachmentsLoaded(cardId: string, items: Attachment[]): void;
  /** An upload the server confirmed. */
  attachmentAdded(attachment: Attachment): void;
  /** An attachment this user deleted (its event follows). */
  attachmentRemoved(cardId: string, attachmentId: string): void;
  reload(): Promise<boolean>;
}

const prefetched = new Map<string, ReturnType<typeof fetchSnapshot>>();

function fetchSnapshot(boardId: string) {
  return api.GET("/api/v1/boards/{board_id}", { params: { path: { board_id: boardId } } });
}

/** Start loading a board before the app has even checked the session (a board URL opened directly). */
export function prefetchBoard(boardId: string): void {
  const p = fetchSnapshot(boardId);
  p.catch(() => undefined);
  prefetched.set(boardId, p);
}

type CardPatch = {
  title?: string; description?: string; due_at?: string | null; start_at?: string | null; completed?: boolean; archived?: boolean;
  cover_attachment_id?: string | null;
};

export function useBoard(boardId: string) {
  const [state, dispatch] = useReducer(reducer, initialState);
  const [error, setError] = useState<{ message: string; status: number } | null>(null);
  const [status, setStatus] = useState<LiveStatus>("connecting");
  const toast = useToast();
  const stateRef = useRef(state);
  stateRef.current = state;
  const liveRef = useRef<LiveBoard | null>(null);
  const data = useMemo(() => view(state), [state]);
  const dataRef = useRef<BoardData | null>(data);
  dataRef.current = data;

  const reload = useCallback(async (): Promise<boolean> => {
    try {
      const early = prefetched.get(boardId);
      prefetched.delete(boardId);
      let snap: BoardSnapshot;
      try {
        snap = (await unwrap(early ?? fetchSnapshot(boardId))) as BoardSnapshot;
      } catch (err) {
        if (!early) throw err;
        snap = (await unwrap(fetchSnapshot(boardId))) as BoardSnapshot; // the early one ran before sign-in
      }
      dispatch({ type: "snapshot", snapshot: snap });
      // the live connection subscribes from this version even before React re-renders
      stateRef.current = { ...stateRef.current, data: stateRef.current.data ?? fromSnapshot(snap) };
      setError(null);
      return true;
    } catch (err) {
      const e = err as Error & { status?: number };
      if (!stateRef.current.data || e.status === 404) setError({ message: e.message, status: e.status ?? 0 });
      return false;
    }
  }, [boardId]);

  // first load, then the live connection from the snapshot's version
  useEffect(() => {
    let cancelled = false;
    void reload().then((ok) => {
      if (cancelled || !ok) return;
      const live = new LiveBoard(boardId, {
        version: () => stateRef.current.data?.version ?? 0,
        events: (events) => dispatch({ type: "events", events }),
        presence: (users) => dispatch({ type: "presence", users }),
        resync: () => dispatch({ type: "stale" }),
        status: setStatus,
        refused: () => void api.GET("/api/v1/me"), // a 401 there refreshes the session cookie (api/http.ts)
      });
      liveRef.current = live;
      live.start();
    });
    return () => {
      cancelled = true;
      liveRef.current?.stop();
      liveRef.current = null;
    };
  }, [boardId, reload]);

  // a gap or a change events cannot describe: reload the snapshot, then catch up from it
  useEffect(() => {
    if (state.stale) void reload().then(() => liveRef.current?.resubscribe());
  }, [state.stale, reload]);

  useEffect(() => {
    for (const cardId of state.refetch) {
      unwrap(api.GET("/api/v1/cards/{card_id}", { params: { path: { card_id: cardId } } }))
        .then((card) => dispatch({ type: "cards", cards: [card] }))
        .catch(() => dispatch({ type: "cards", cards: [] }));
    }
  }, [state.refetch]);

  /** Show `op` now; confirm with what the server returns, or undo it and say so. */
  const run = useCallback(
    async <T>(op: Op, call: () => Promise<T>, what: string, confirm: (out: T) => { cards?: Card[]; lists?: List[]; removedCards?: string[]; removedLists?: string[] }) => {
      dispatch({ type: "optimistic", op });
      try {
        const out = await call();
        dispatch({ type: "confirm", opId: op.opId, ...confirm(out) });
        return true;
      } catch (err) {
        dispatch({ type: "rollback", opId: op.opId });
        toast.error(`Could not ${what}: ${(err as Error).message} The change was undone.`);
        return false;
      }
    },
    [toast],
  );

  /** A call that changes what the board shows in ways events tell only in part: the snapshot follows it. */
  const reloading = useCallback(
    async (call: () => Promise<unknown>, what: string): Promise<boolean> => {
      try {
        await call();
        dispatch({ type: "stale" });
        return true;
      } catch (err) {
        toast.error(`Could not ${what}: ${(err as Error).message}`);
        return false;
      }
    },
    [toast],
  );

  const actions: BoardActions = useMemo(() => {
    const undoable = (text: string, undo: () => Promise<unknown>) => toast.info(text, { label: "Undo", run: () => void undo() });
    const cardsOf = (listId: string, except?: string) =>
      (dataRef.current?.cards ?? []).filter((c) => c.list_id === listId && c.id !== except).sort(byPosition);
    const listsExcept = (except?: string) => (dataRef.current?.lists ?? []).filter((l) => l.id !== except).sort(byPosition);
    const self: BoardActions = {
      async createCard(listId, title) {
        const siblings = cardsOf(listId);
        const place = placeAt(siblings, siblings.length);
        const opId = `tmp-${newId()}`;
        const now = new Date().toISOString();
        const temp: Card = {
          id: opId, board_id: boardId, list_id: listId, title, description: "", position: place.position, start_at: null,
          due_at: null, completed: false, archived: false, created_by: null, created_at: now, updated_at: now,
          assignee_ids: [], label_ids: [], watcher_ids: [], checklist_total: 0, checklist_done: 0, comment_count: 0,
        };
        await run({ kind: "card.create", opId, card: temp },
          () => unwrap(api.POST("/api/v1/lists/{list_id}/cards", { params: { path: { list_id: listId } }, body: { title, after_id: place.afterId } })),
          `add “${title}”`, (card) => ({ cards: [card] }));
      },
      async updateCard(cardId, patch, what = "save the card") {
        const body = patch as CardPatch;
        return run({ kind: "card.update", opId: newId(), cardId, patch },
          () => unwrap(api.PATCH("/api/v1/cards/{card_id}", { params: { path: { card_id: cardId } }, body })),
          what, (card) => ({ cards: [card] }));
      },
      async moveCard(cardId, listId, index, undo = true) {
        const from = dataRef.current?.cards.find((c) => c.id === cardId)?.list_id;
        const at = from ? cardsOf(from).findIndex((c) => c.id === cardId) : -1;
        const place = placeAt(cardsOf(listId, cardId), index);
        const moved = await run({ kind: "card.move", opId: newId(), cardId, listId, position: place.position },
          () => unwrap(api.POST("/api/v1/cards/{card_id}/move", {
            params: { path: { card_id: cardId } }, body: { list_id: listId, after_id: place.afterId, before_id: place.beforeId },
          })),
          "move the card", (card) => ({ cards: [card] }));
        if (moved && undo && from && at >= 0) undoable("Card moved", () => self.moveCard(cardId, from, at, false));
      },
      async archiveCard(cardId) {
        if (await self.updateCard(cardId, { archived: true }, "archive the card"))
          undoable("Card archived", () => self.updateCard(cardId, { archived: false }, "restore the card"));
      },
      async deleteCard(cardId) {
        const deleted = await run({ kind: "card.delete", opId: newId(), cardId },
          () => unwrap(api.DELETE("/api/v1/cards/{card_id}", { params: { path: { card_id: cardId } } })),
          "delete the card", () => ({ removedCards: [cardId] }));
        if (deleted) undoable("Card moved to the trash", () => self.restoreCard(cardId));
      },
      async restoreCard(cardId) {
        try {
          dispatch({ type: "cards", cards: [await trash.restoreCard(cardId)] });
          return true;
        } catch (err) {
          toast.error(`Could not restore the card: ${(err as Error).message}`);
          return false;
        }
      },
      async createList(name) {
        const lists = listsExcept();
        const place = placeAt(lists, lists.length);
        const opId = `tmp-${newId()}`;
        const now = new Date().toISOString();
        await run({ kind: "list.create", opId, list: { id: opId, board_id: boardId, name, position: place.position, archived: false, created_at: now, updated_at: now } },
          () => unwrap(api.POST("/api/v1/boards/{board_id}/lists", { params: { path: { board_id: boardId } }, body: { name, after_id: place.afterId } })),
          `add the list “${name}”`, (list) => ({ lists: [list] }));
      },
      async renameList(listId, name) {
        await run({ kind: "list.update", opId: newId(), listId, patch: { name } },
          () => unwrap(api.PATCH("/api/v1/lists/{list_id}", { params: { path: { list_id: listId } }, body: { name } })),
          "rename the list", (list) => ({ lists: [list] }));
      },
      async archiveList(listId) {
        const archived = await run({ kind: "list.update", opId: newId(), listId, patch: { archived: true } },
          () => unwrap(api.PATCH("/api/v1/lists/{list_id}", { params: { path: { list_id: listId } }, body: { archived: true } })),
          "archive the list", (list) => ({ lists: [list] }));
        if (archived) undoable("List archived", () => self.unarchiveList(listId));
      },
      unarchiveList(listId) {
        return reloading(
          () => unwrap(api.PATCH("/api/v1/lists/{list_id}", { params: { path: { list_id: listId } }, body: { archived: false } })),
          "restore the list",
        );
      },
      async deleteList(listId) {
        const deleted = await run({ kind: "list.delete", opId: newId(), listId }, () => trash.deleteList(listId),
          "delete the list", () => ({ removedLists: [listId] }));
        if (deleted) undoable("List moved to the trash", () => self.restoreList(listId));
      },
      restoreList(listId) {
        return reloading(() => trash.restoreList(listId), "restore the list");
      },
      async moveList(listId, index) {
        const place = placeAt(listsExcept(listId), index);
        await run({ kind: "list.move", opId: newId(), listId, position: place.position },
          () => unwrap(api.POST("/api/v1/lists/{list_id}/move", { params: { path: { list_id: listId } }, body: { after_id: place.afterId, before_id: place.beforeId } })),
          "move the list", (list) => ({ lists: [list] }));
      },
      upsertCards(cards) {
        dispatch({ type: "cards", cards });
      },
      attachmentsLoaded(cardId, items) {
        dispatch({ type: "attachments", cardId, items });
      },
      attachmentAdded(attachment) {
        dispatch({ type: "attachment.added", attachment });
      },
      attachmentRemoved(cardId, attachmentId) {
        dispatch({ type: "attachment.removed", cardId, attachmentId });
      },
      reload,
    };
    return self;
  }, [boardId, run, reload, reloading, toast]);

  return { data, state, error, status, actions };
}
