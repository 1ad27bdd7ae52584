// "My tasks": cards assigned to me across workspaces, grouped by due state.
import { useCallback, useEffect, useState } from "react";
import { Link } from "react-router-dom";
import { api, unwrap, type Card } from "../api/client";
import { dueState } from "../boards/filters";
import { formatDue } from "../boards/CardTile";
import { Layout } from "../ui/Layout";
import { Empty, Failed, Loading } from "../ui/states";

const GROUPS = [
  ["overdue", "Overdue"],
  ["soon", "Due within a day"],
  ["later", "Later"],
  ["none", "No due date"],
  ["done", "Completed"],
] as const;

export function MyTasks() {
  const [cards, setCards] = useState<Card[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [completed, setCompleted] = useState(false);
  const load = useCallback(async () => {
    try {
      const all: Card[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 10; page++) {
        const out = await unwrap(api.GET("/api/v1/me/tasks", { params: { query: { include_completed: completed, limit: 100, cursor } } }));
        all.push(...out.items);
        if (!out.next_cursor) break;
        cursor = out.next_cursor;
      }
      setCards(all);
      setError(null);
    } catch (err) {
      setError((err as Error).message);
    }
  }, [completed]);
  useEffect(() => void load(), [load]);

  return (
    <Layout>
      <main className="page narrow">
        <div className="page-head">
          <h1>My tasks</h1>
          <label className="check">
            <input type="checkbox" checked={completed} onChange={(e) => setCompleted(e.target.checked)} /> Show completed
          </label>
        </div>
        {error ? <Failed message={error} retry={load} /> : cards === null ? <Loading what="your tasks" /> : cards.length === 0 ? (
          <Empty>Nothing is assigned to you. Cards assigned to you on any board show up here.</Empty>
        ) : (
          GROUPS.map(([key, title]) => {
            const group = cards.filter((c) => (dueState(c) ?? "none") === key);
            if (!group.length) return null;
            return (
              <section key={key} className="task-group">
                <h2>{title} <span className="count">{group.length}</span></h2>
                <ul className="task-list">
                  {group.map((c) => (
                    <li key={c.id}>
                      <Link to={`/b/${c.board_id}/c/${c.id}`}>{c.title}</Link>
                      {c.due_at && <span className={`badge due-${dueState(c)}`}>{formatDue(c.due_at)}</span>}
                    </li>
                  ))}
                </ul>
              </section>
            );
          })
        )}
      </main>
    </Layout>
  );
}
