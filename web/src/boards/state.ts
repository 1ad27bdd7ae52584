// Board state: the confirmed server state (snapshot + events in board-version order) and the
// user's pending optimistic operations on top. The view is the pending ops applied to it, so a
// rollback is simply dropping an op.
import type { Attachment } from "../api/attachments";
import type { Board, BoardEvent, BoardMember, BoardSnapshot, Card, Label, List } from "../api/client";
import { byPosition } from "./ordering";

export interface BoardData {
  board: Board;
  version: number;
  role: string;
  lists: List[];
  cards: Card[];
  labels: Label[];
  members: BoardMember[];
  /** Attachments of the cards whose lists were loaded (an open card), kept current by events. */
  attachments: Record<string, Attachment[]>;
}

export type Op =
  | { kind: "card.create"; opId: string; card: Card }
  | { kind: "card.update"; opId: string; cardId: string; patch: Partial<Card> }
  | { kind: "card.move"; opId: string; cardId: string; listId: string; position: string }
  | { kind: "card.delete"; opId: string; cardId: string }
  | { kind: "list.create"; opId: string; list: List }
  | { kind: "list.update"; opId: string; listId: string; patch: Partial<List> }
  | { kind: "list.delete"; opId: string; listId: string }
  | { kind: "list.move"; opId: string; listId: string; position: string };

export interface BoardState {
  data: BoardData | null;
  pending: Op[];
  /** Set when an event shows a gap or names something the snapshot lacks: reload the snapshot. */
  stale: boolean;
  deleted: boolean;
  presence: string[];
  /** Cards whose checklist counts changed in a way events do not tell: refetch them. */
  refetch: string[];
}

export type Action =
  | { type: "snapshot"; snapshot: BoardSnapshot }
  | { type: "events"; events: BoardEvent[] }
  | { type: "optimistic"; op: Op }
  | { type: "confirm"; opId: string; cards?: Card[]; lists?: List[]; removedCards?: string[]; removedLists?: string[] }
  | { type: "rollback"; opId: string }
  | { type: "cards"; cards: Card[] }
  | { type: "attachments"; cardId: string; items: Attachment[] }
  | { type: "attachment.added"; attachment: Attachment }
  | { type: "attachment.removed"; cardId: string; attachmentId: string }
  | { type: "presence"; users: string[] }
  | { type: "stale" };

export const initialState: BoardState = {
  data: null,
  pending: [],
  stale: false,
  deleted: false,
  presence: [],
  refetch: [],
};

function upsert<T extends { id: string }>(items: T[], item: T): T[] {
  const i = items.findIndex((x) => x.id === item.id);
  if (i < 0) return [...items, item];
  const copy = items.slice();
  copy[i] = item;
  return copy;
}

function patchCard(cards: Card[], id: string, f: (c: Card) => Card): Card[] {
  return cards.map((c) => (c.id === id ? f(c) : c));
}

const toggle = (ids: string[] | undefined, id: string, on: boolean): string[] => {
  const rest = (ids ?? []).filter((x) => x !== id);
  return on ? [...rest, id] : rest;
};

/** Open cards on open lists only: archived ones leave the board view. */
function keepCard(data: BoardData, card: Card): Card[] {
  const others = data.cards.filter((c) => c.id !== card.id);
  return card.archived ? others : [...others, card];
}

/** A card's loaded attachment list changed by `f`; cards whose list was never loaded are left alone. */
function patchAttachments(data: BoardData, cardId: string, f: (items: Attachment[]) => Attachment[]): BoardData["attachments"] {
  const items = data.attachments[cardId];
  return items ? { ...data.attachments, [cardId]: f(items) } : data.attachments;
}

/** A confirmed upload (from its answer or its event): in the card's list once, never twice. */
export function attachmentAdded(data: BoardData, a: Attachment): BoardData {
  return { ...data, attachments: patchAttachments(data, a.card_id, (items) => upsert(items, a)) };
}

/** A deleted attachment: gone from its card's list, and from the cover if it was that. */
export function attachmentRemoved(data: BoardData, cardId: string, attachmentId: string): BoardData {
  return {
    ...data,
    attachments: patchAttachments(data, cardId, (items) => items.filter((a) => a.id !== attachmentId)),
    cards: data.cards.some((c) => c.id === cardId && c.cover_attachment_id === attachmentId)
      ? patchCard(data.cards, cardId, (c) => ({ ...c, cover_attachment_id: null }))
      : data.cards,
  };
}

type Payload = Record<string, unknown>;

/** One event applied to confirmed data; `refetch` names cards to reload, `stale` asks for a snapshot. */
export function applyEvent(
  data: BoardData,
  event: BoardEvent,
): { data: BoardData; refetch?: string; stale?: boolean; deleted?: boolean } {
  const p = event.payload as Payload;
  const version = event.board_version ?? data.version;
  const next: BoardData = { ...data, version };
  const cardId = (p.card_id as string | undefined) ?? event.card_id ?? undefined;
  switch (event.type) {
    case "card.created":
    case "card.updated":
    case "card.moved":
    case "card.restored": // back from the trash, whole: like a new card
      next.cards = keepCard(data, p.card as Card);
      break;
    case "card.deleted":
      next.cards = data.cards.filter((c) => c.id !== p.card_id);
      break;
    case "card.assignee_added":
    case "card.assignee_removed":
      next.cards = patchCard(data.cards, cardId!, (c) => ({
        ...c,
        assignee_ids: toggle(c.assignee_ids, p.user_id as string, event.type === "card.assignee_added"),
      }));
      break;
    case "card.label_added":
    case "card.label_removed":
      next.cards = patchCard(data.cards, cardId!, (c) => ({
        ...c,
        label_ids: toggle(c.label_ids, p.label_id as string, event.type === "card.label_added"),
      }));
      break;
    case "comment.created":
    case "comment.deleted": {
      const id = (p.comment as { card_id?: string } | undefined)?.card_id ?? cardId;
      const delta = event.type === "comment.created" ? 1 : -1;
      next.cards = patchCard(data.cards, id!, (c) => ({
        ...c,
        comment_count: Math.max(0, (c.comment_count ?? 0) + delta),
      }));
      break;
    }
    case "attachment.created": {
      // the count is the server's: each created event adds one, even for an upload this tab already listed
      const a = p.attachment as Attachment;
      next.attachments = attachmentAdded(data, a).attachments;
      next.cards = patchCard(data.cards, a.card_id, (c) => ({ ...c, attachment_count: (c.attachment_count ?? 0) + 1 }));
      break;
    }
    case "attachment.deleted": {
      const removed = attachmentRemoved(data, cardId!, p.attachment_id as string);
      next.attachments = removed.attachments;
      next.cards = patchCard(removed.cards, cardId!, (c) => ({
        ...c,
        attachment_count: Math.max(0, (c.attachment_count ?? 0) - 1),
        cover_attachment_id: p.cover_cleared ? null : c.cover_attachment_id,
      }));
      break;
    }
    case "checklist.created":
    case "checklist_item.created":
    case "checklist_item.updated":
    case "checklist_item.deleted":
      return { data: next, refetch: cardId };
    case "list.created":
    case "list.updated":
    case "list.moved": {
      const list = p.list as List;
      next.lists = list.archived ? data.lists.filter((l) => l.id !== list.id) : upsert(data.lists, list);
      if (list.archived) next.cards = data.cards.filter((c) => c.list_id !== list.id);
      else if (!data.lists.some((l) => l.id === list.id) && event.type === "list.updated")
        return { data: next, stale: true }; // an unarchived list brings back cards we never had
      break;
    }
    case "list.deleted":
      next.lists = data.lists.filter((l) => l.id !== p.list_id);
      next.cards = data.cards.filter((c) => c.list_id !== p.list_id);
      break;
    case "list.restored":
      return { data: next, stale: true }; // its cards come back with it, and the event does not carry them
    case "label.created":
    case "label.updated":
      next.labels = upsert(data.labels, p.label as Label);
      break;
    case "label.deleted":
      next.labels = data.labels.filter((l) => l.id !== p.label_id);
      next.cards = data.cards.map((c) =>
        c.label_ids?.includes(p.label_id as string)
          ? { ...c, label_ids: c.label_ids.filter((x) => x !== p.label_id) }
          : c,
      );
      break;
    case "board.updated":
      next.board = { ...(p.board as Board), version };
      break;
    case "board.deleted":
      return { data: next, deleted: true };
    case "board.member_added":
    case "board.member_updated":
    case "board.member_removed":
      return { data: next, stale: true }; // members carry names the event does not
    default:
      break;
  }
  next.board = { ...next.board, version };
  return { data: next };
}

function applyOp(data: BoardData, op: Op): BoardData {
  switch (op.kind) {
    case "card.create":
      return { ...data, cards: upsert(data.cards, op.card) };
    case "card.update": {
      const cards = patchCard(data.cards, op.cardId, (c) => ({ ...c, ...op.patch }));
      return { ...data, cards: cards.filter((c) => !c.archived) };
    }
    case "card.move":
      return {
        ...data,
        cards: patchCard(data.cards, op.cardId, (c) => ({ ...c, list_id: op.listId, position: op.position })),
      };
    case "card.delete":
      return { ...data, cards: data.cards.filter((c) => c.id !== op.cardId) };
    case "list.create":
      return { ...data, lists: upsert(data.lists, op.list) };
    case "list.update": {
      const lists = data.lists.map((l) => (l.id === op.listId ? { ...l, ...op.patch } : l));
      const gone = lists.find((l) => l.id === op.listId)?.archived;
      return {
        ...data,
        lists: lists.filter((l) => !l.archived),
        cards: gone ? data.cards.filter((c) => c.list_id !== op.listId) : data.cards,
      };
    }
    case "list.move":
      return { ...data, lists: data.lists.map((l) => (l.id === op.listId ? { ...l, position: op.position } : l)) };
    case "list.delete":
      return { ...data, lists: data.lists.filter((l) => l.id !== op.listId), cards: data.cards.filter((c) => c.list_id !== op.listId) };
  }
}

export function fromSnapshot(s: BoardSnapshot): BoardData {
  return {
    board: s.board,
    version: s.version,
    role: s.role,
    lists: s.lists.filter((l) => !l.archived),
    cards: s.cards.filter((c) => !c.archived),
    labels: s.labels,
    members: s.members,
    attachments: {},
  };
}

export function reducer(state: BoardState, action: Action): BoardState {
  switch (action.type) {
    case "snapshot": {
      // a snapshot older than what events already told us is ignored
      if (state.data && !state.stale && action.snapshot.version < state.data.version) return state;
      return { ...state, data: fromSnapshot(action.snapshot), stale: false, refetch: [] };
    }
    case "events": {
      if (!state.data) return state;
      let data = state.data;
      const refetch = new Set(state.refetch);
      let stale = state.stale;
      let deleted = state.deleted;
      for (const event of action.events) {
        const v = event.board_version;
        if (v == null || v <= data.version) continue; // seen already
        if (v !== data.version + 1) {
          stale = true; // a gap: only a snapshot can fill it
          break;
        }
        const out = applyEvent(data, event);
        data = out.data;
        if (out.refetch) refetch.add(out.refetch);
        stale ||= !!out.stale;
        deleted ||= !!out.deleted;
      }
      return { ...state, data, refetch: [...refetch], stale, deleted };
    }
    case "optimistic":
      return { ...state, pending: [...state.pending, action.op] };
    case "confirm": {
      const pending = state.pending.filter((op) => op.opId !== action.opId);
      if (!state.data) return { ...state, pending };
      let data = state.data;
      for (const card of action.cards ?? []) data = { ...data, cards: keepCard(data, card) };
      if (action.removedCards?.length)
        data = { ...data, cards: data.cards.filter((c) => !action.removedCards!.includes(c.id)) };
      if (action.removedLists?.length) {
        const gone = new Set(action.removedLists);
        data = { ...data, lists: data.lists.filter((l) => !gone.has(l.id)), cards: data.cards.filter((c) => !gone.has(c.list_id)) };
      }
      for (const list of action.lists ?? [])
        data = { ...data, lists: list.archived ? data.lists.filter((l) => l.id !== list.id) : upsert(data.lists, list) };
      return { ...state, pending, data };
    }
    case "rollback":
      return { ...state, pending: state.pending.filter((op) => op.opId !== action.opId) };
    case "cards": {
      if (!state.data) return state;
      let data = state.data;
      for (const card of action.cards) data = { ...data, cards: keepCard(data, card) };
      const done = new Set(action.cards.map((c) => c.id));
      return { ...state, data, refetch: state.refetch.filter((id) => !done.has(id)) };
    }
    case "attachments": {
      if (!state.data) return state;
      return { ...state, data: { ...state.data, attachments: { ...state.data.attachments, [action.cardId]: action.items } } };
    }
    case "attachment.added":
      return state.data ? { ...state, data: attachmentAdded(state.data, action.attachment) } : state;
    case "attachment.removed":
      return state.data ? { ...state, data: attachmentRemoved(state.data, action.cardId, action.attachmentId) } : state;
    case "presence":
      return { ...state, presence: action.users };
    case "stale":
      return { ...state, stale: true };
  }
}

/** What the user sees: confirmed data with the pending operations applied in order. */
export function view(state: BoardState): BoardData | null {
  if (!state.data) return null;
  return state.pending.reduce(applyOp, state.data);
}

/** Lists in order, each with its cards in order. */
export function columns(data: BoardData): { list: List; cards: Card[] }[] {
  const byList = new Map<string, Card[]>();
  for (const card of data.cards) {
    const bucket = byList.get(card.list_id);
    if (bucket) bucket.push(card);
    else byList.set(card.list_id, [card]);
  }
  return [...data.lists]
    .sort(byPosition)
    .map((list) => ({ list, cards: (byList.get(list.id) ?? []).sort(byPosition) }));
}
