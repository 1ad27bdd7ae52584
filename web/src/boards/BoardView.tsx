// The board: lists as columns, drag and drop (mouse, touch, keyboard), filters, presence, live updates.
import {
  DndContext, KeyboardSensor, MouseSensor, TouchSensor, closestCenter, closestCorners, useSensor, useSensors,
  type Announcements, type CollisionDetection, type DragEndEvent, type KeyboardCoordinateGetter, type DragOverEvent, type DragStartEvent,
} from "@dnd-kit/core";
import { SortableContext, arrayMove, horizontalListSortingStrategy, sortableKeyboardCoordinates } from "@dnd-kit/sortable";
import { Suspense, lazy, useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router-dom";
import type { BoardMember, Card, Label } from "../api/client";
import { useSession } from "../auth/session";
import { useIgnoreStrayDrops, useUploader } from "../cards/uploads";
import { Avatar } from "../ui/avatar";
import { Layout } from "../ui/Layout";
import { LiveIndicator } from "../ui/LiveIndicator";
import { NotFound } from "../ui/NotFound";
import { Empty, Failed, Loading, colorProps } from "../ui/states";
import { ArchivePanel } from "./ArchivePanel";
import { BoardMenu, type BoardPanel } from "./BoardMenu";
import { BoardMembers } from "./BoardMembers";
import { Column } from "./Column";
import { FilterBar } from "./FilterBar";
import { TrashPanel } from "./TrashPanel";
import { filtersFromQuery, filtersToQuery, isFiltering, matches, type Filters } from "./filters";
import { columns } from "./state";
import { useBoard } from "./useBoard";

// the dialog (with the markdown renderer and sanitiser) loads on first use: the board opens sooner
const loadDialog = () => import("../cards/CardDialog");
const CardDialog = lazy(() => loadDialog().then((m) => ({ default: m.CardDialog })));

type Cols = { listId: string; cardIds: string[] }[];

const EDIT_ROLES = new Set(["admin", "editor"]);

// lists collide with lists only; cards with cards and (empty) columns
const collisions: CollisionDetection = (args) => {
  const type = args.active.data.current?.type;
  const droppableContainers = args.droppableContainers.filter((c) =>
    type === "list" ? c.data.current?.type === "list" : c.data.current?.type !== "list",
  );
  return type === "list" ? closestCenter({ ...args, droppableContainers }) : closestCorners({ ...args, droppableContainers });
};

// lists move left and right among lists only; cards use the sortable default (nearest droppable that way)
const keyboardCoordinates: KeyboardCoordinateGetter = (event, args) => {
  const { active, droppableRects, droppableContainers, collisionRect } = args.context;
  if (active?.data.current?.type !== "list" || !collisionRect) return sortableKeyboardCoordinates(event, args);
  if (event.code !== "ArrowLeft" && event.code !== "ArrowRight") return undefined;
  event.preventDefault();
  const right = event.code === "ArrowRight";
  const target = droppableContainers
    .getEnabled()
    .filter((c) => c.data.current?.type === "list" && c.id !== active.id)
    .map((c) => droppableRects.get(c.id))
    .filter((r): r is NonNullable<typeof r> => !!r && (right ? r.left > collisionRect.left : r.left < collisionRect.left))
    .sort((a, b) => (right ? a.left - b.left : b.left - a.left))[0];
  return target ? { x: target.left, y: target.top } : undefined;
};

/** The board at /b/<id>; `panel` opens the members dialog over it (/b/<id>/members). */
export function BoardView({ panel }: { panel?: "members" }) {
  const { boardId = "", cardId } = useParams();
  const navigate = useNavigate();
  const { user } = useSession();
  const [query, setQuery] = useSearchParams();
  const filters = filtersFromQuery(query);
  const setFilters = (f: Filters) => setQuery(filtersToQuery(f), { replace: true });
  const { data, state, error, status, actions } = useBoard(boardId);
  const upload = useUploader(actions);
  useIgnoreStrayDrops();
  const [drag, setDrag] = useState<Cols | null>(null);
  const [newList, setNewList] = useState("");
  const [bin, setBin] = useState<BoardPanel | null>(null);
  const hasData = !!data;
  useEffect(() => {
    // fetch the dialog's code once the board is on screen, so the first card opens at once
    if (hasData) void loadDialog();
  }, [hasData]);

  const sensors = useSensors(
    useSensor(MouseSensor, { activationConstraint: { distance: 5 } }),
    useSensor(TouchSensor, { activationConstraint: { delay: 250, tolerance: 8 } }),
    useSensor(KeyboardSensor, {
      coordinateGetter: keyboardCoordinates,
      keyboardCodes: { start: ["Space"], cancel: ["Escape"], end: ["Space", "Enter"] },
    }),
  );

  const cols = useMemo(() => (data ? columns(data) : []), [data]);
  const labels = useMemo(() => new Map<string, Label>((data?.labels ?? []).map((l) => [l.id, l])), [data?.labels]);
  const people = useMemo(() => new Map<string, BoardMember>((data?.members ?? []).map((m) => [m.user.id, m])), [data?.members]);
  const cardsById = useMemo(() => new Map<string, Card>((data?.cards ?? []).map((c) => [c.id, c])), [data?.cards]);
  const filtering = isFiltering(filters);
  const canEdit = !!data && EDIT_ROLES.has(data.role);
  // stable across renders, so opening a card does not re-render every card tile
  const search = useRef("");
  search.current = query.toString();
  const open = useCallback((id: string) => navigate({ pathname: `/b/${boardId}/c/${id}`, search: search.current }), [navigate, boardId]);

  // during a drag the columns come from the drag state, so a card can visit other lists before it lands
  const shown = useMemo(() => {
    if (!drag) return cols.map((c) => ({ list: c.list, cards: c.cards.filter((card) => !filtering || matches(card, filters)), hidden: 0, total: c.cards }));
    return drag
      .map((d) => {
        const col = cols.find((c) => c.list.id === d.listId);
        return col && { list: col.list, cards: d.cardIds.map((id) => cardsById.get(id)!).filter(Boolean), hidden: 0, total: col.cards };
      })
      .filter((x): x is NonNullable<typeof x> => !!x);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [cols, drag, cardsById, filtering, query.toString()]);

  const containerOf = (id: string, from: Cols): number => {
    if (id.startsWith("col:")) return from.findIndex((c) => c.listId === id.slice(4));
    if (id.startsWith("card:")) return from.findIndex((c) => c.cardIds.includes(id.slice(5)));
    return -1;
  };

  const announcements: Announcements = useMemo(() => {
    const name = (id: string | number) => {
      const s = String(id);
      if (s.startsWith("card:")) return `Card “${cardsById.get(s.slice(5))?.title ?? ""}”`;
      const list = cols.find((c) => c.list.id === s.slice(s.indexOf(":") + 1))?.list;
      return `List “${list?.name ?? ""}”`;
    };
    const where = (id: string | number) => {
      const s = String(id);
      if (!s.startsWith("card:")) return name(s).replace("List", "list");
      const card = cardsById.get(s.slice(5));
      const list = cols.find((c) => c.list.id === card?.list_id)?.list;
      return `card “${card?.title ?? ""}” in list “${list?.name ?? ""}”`;
    };
    return {
      onDragStart: ({ active }) => `Picked up ${name(active.id)}. Arrow keys move it, Space drops it, Escape cancels.`,
      onDragOver: ({ active, over }) => (over ? `${name(active.id)} is over ${where(over.id)}.` : `${name(active.id)} is not over a place to drop.`),
      onDragEnd: ({ active, over }) => (over ? `${name(active.id)} was dropped on ${where(over.id)}.` : `${name(active.id)} was put back.`),
      onDragCancel: ({ active }) => `Moving ${name(active.id)} was cancelled.`,
    };
  }, [cardsById, cols]);
  const accessibility = useMemo(() => ({ announcements }), [announcements]);

  function onDragStart(e: DragStartEvent) {
    if (e.active.data.current?.type === "card") setDrag(cols.map((c) => ({ listId: c.list.id, cardIds: c.cards.map((x) => x.id) })));
  }

  function onDragOver(e: DragOverEvent) {
    if (!drag || !e.over || e.active.data.current?.type !== "card") return;
    const activeId = String(e.active.id);
    const overId = String(e.over.id);
    const from = containerOf(activeId, drag);
    const to = containerOf(overId, drag);
    if (from < 0 || to < 0 || from === to) return;
    const id = activeId.slice(5);
    const target = drag[to].cardIds;
    const overIndex = overId.startsWith("card:") ? target.indexOf(overId.slice(5)) : target.length;
    setDrag(drag.map((c, i) => {
      if (i === from) return { ...c, cardIds: c.cardIds.filter((x) => x !== id) };
      if (i === to) return { ...c, cardIds: [...target.slice(0, overIndex), id, ...target.slice(overIndex)] };
      return c;
    }));
  }

  function onDragEnd(e: DragEndEvent) {
    const activeId = String(e.active.id);
    const overId = e.over ? String(e.over.id) : null;
    if (e.active.data.current?.type === "list") {
      if (!overId || overId === activeId) return;
      const ids = cols.map((c) => `list:${c.list.id}`);
      const next = arrayMove(ids, ids.indexOf(activeId), ids.indexOf(overId));
      void actions.moveList(activeId.slice(5), next.indexOf(activeId));
      return;
    }
    const current = drag;
    setDrag(null);
    if (!current || !overId) return;
    const c = containerOf(activeId, current);
    if (c < 0) return;
    let ids = current[c].cardIds;
    const id = activeId.slice(5);
    if (overId.startsWith("card:") && containerOf(overId, current) === c) {
      ids = arrayMove(ids, ids.indexOf(id), ids.indexOf(overId.slice(5)));
    }
    const index = ids.indexOf(id);
    const card = cardsById.get(id);
    const listId = current[c].listId;
    if (!card) return;
    const before = cols.find((x) => x.list.id === card.list_id)?.cards.map((x) => x.id) ?? [];
    if (listId === card.list_id && before.indexOf(id) === index) return; // dropped where it was
    void actions.moveCard(id, listId, index);
  }

  function addList(e: FormEvent) {
    e.preventDefault();
    if (!newList.trim()) return;
    void actions.createList(newList.trim());
    setNewList("");
  }

  if (error)
    return (
      <Layout wide>
        {error.status === 404 ? <NotFound message="This board does not exist, or you have no access to it." /> : <Failed message={error.message} retry={actions.reload} />}
      </Layout>
    );
  if (!data) return <Layout wide><Loading what="the board" /></Layout>;

  const color = colorProps(data.board.color, "head");
  const present = state.presence.filter((id) => id !== user?.id);

  return (
    <Layout workspaceId={data.board.workspace_id} wide>
      <div className={`board-head ${color.className}`} style={color.style}>
        <Link to={`/w/${data.board.workspace_id}`} className="back" aria-label="All boards">‹</Link>
        <h1 className="board-name">{data.board.name}</h1>
        {data.board.archived && <span className="pill">archived</span>}
        <LiveIndicator status={status} saving={state.pending.length > 0} />
        <span className="presence" aria-label="Also on this board">
          {present.map((id) => <Avatar key={id} id={id} name={people.get(id)?.user.name ?? "Someone"} />)}
        </span>
        <Link to={{ pathname: `/b/${boardId}/members`, search: query.toString() }} className="pill board-members-link">Board members</Link>
        <BoardMenu canEdit={canEdit} open={setBin} />
      </div>
      <FilterBar filters={filters} onChange={setFilters} labels={data.labels} members={data.members} />
      {filtering && <p className="filter-note">Filtered view: clear the filters to drag cards.</p>}
      <DndContext accessibility={accessibility} sensors={sensors} collisionDetection={collisions} onDragStart={onDragStart} onDragOver={onDragOver} onDragEnd={onDragEnd} onDragCancel={() => setDrag(null)}>
        <SortableContext items={cols.map((c) => `list:${c.list.id}`)} strategy={horizontalListSortingStrategy}>
          <div className="board" data-testid="board">
            {shown.map(({ list, cards, total }) => (
              <Column key={list.id} list={list} cards={cards} labels={labels} people={people} actions={actions} open={open}
                canEdit={canEdit} dragDisabled={!canEdit || filtering} hiddenCount={total.length - cards.length} upload={upload} />
            ))}
            {canEdit ? (
              <form className="column add-list" onSubmit={addList}>
                <input aria-label="New list name" placeholder="+ Add another list" maxLength={200} value={newList} onChange={(e) => setNewList(e.target.value)} />
                {newList && <button className="primary" type="submit">Add list</button>}
              </form>
            ) : cols.length === 0 ? (
              <Empty>This board has no lists yet.</Empty>
            ) : null}
          </div>
        </SortableContext>
      </DndContext>
      {panel === "members" && (
        <BoardMembers boardId={boardId} workspaceId={data.board.workspace_id} role={data.role} members={data.members}
          reload={actions.reload} close={() => navigate({ pathname: `/b/${boardId}`, search: query.toString() })} />
      )}
      {bin === "archive" && (
        <ArchivePanel boardId={boardId} version={data.version} canEdit={canEdit} actions={actions} close={() => setBin(null)} />
      )}
      {bin === "trash" && canEdit && (
        <TrashPanel boardId={boardId} version={data.version} actions={actions} close={() => setBin(null)} />
      )}
      {cardId && (
        <Suspense fallback={<div className="modal-backdrop"><div className="modal"><Loading what="the card" /></div></div>}>
        <CardDialog
          key={cardId}
          cardId={cardId}
          board={data}
          boardCard={cardsById.get(cardId)}
          actions={actions}
          canEdit={canEdit}
          upload={upload}
          close={() => navigate({ pathname: `/b/${boardId}`, search: query.toString() })}
        />
        </Suspense>
      )}
    </Layout>
  );
}
