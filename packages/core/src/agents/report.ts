import type { Orchestrator } from "../context.js";
import { type DeadlockReport, findDeadlocks } from "./deadlock.js";
import { type AgentHealth, classifyAgent } from "./health.js";

/** Event kinds counted under a plain name in the report; every kind is also in events_by_kind. */
const HAPPENED = {
  tasks_assigned: ["task_assigned"],
  tasks_completed: ["task_completed"],
  tasks_failed: ["task_failed"],
  agents_started: ["agent_started"],
  agents_restarted: ["agent_restarted"],
  agents_killed: ["agent_killed"],
  agents_failed: ["agent_failed", "agent_vanished"],
  crash_loops: ["crash_loop"],
  messages_dead_lettered: ["message_dead_lettered", "message_failed"],
  messages_expired: ["message_expired"],
  merges: ["worktree_merged", "task_merged"],
  conflicts: ["merge_conflict", "worktree_conflict"],
} as const;

/** Counts of what happened; messages_sent comes from the messages themselves. */
export type Happened = Record<keyof typeof HAPPENED | "messages_sent", number>;

export interface TaskTime {
  task_id: string;
  status: string;
  started_at: number;
  finished_at: number | null;
  duration_ms: number;
}

export interface TaskCounts {
  total: number;
  completed: number;
  running: number;
  review: number;
  ready: number;
  blocked: number;
  failed: number;
  conflict: number;
  cancelled: number;
}

export interface ActivityReport {
  since: number;
  until: number;
  happened: Happened;
  events_by_kind: Record<string, number>;
  task_times: TaskTime[];
  /** Sum of the task times finished in the window, and the window's wall time. */
  work_ms: number;
  wall_ms: number;
  now: {
    agents: AgentHealth[];
    tasks: TaskCounts;
    worktrees: Record<string, number>;
    deadlocks: DeadlockReport;
  };
  /** The task graph for a picture; null above GRAPH_LIMIT tasks (summaries count by status instead). */
  graph: { id: string; status: string; depends_on: string[] }[] | null;
}

export const GRAPH_LIMIT = 300;

export function countTasks(o: Orchestrator): TaskCounts {
  const counts: TaskCounts = {
    total: 0,
    completed: 0,
    running: 0,
    review: 0,
    ready: 0,
    blocked: 0,
    failed: 0,
    conflict: 0,
    cancelled: 0,
  };
  for (const c of o.tasks.counts()) {
    counts.total += c.n;
    if (c.status === "pending") counts[c.blocked ? "blocked" : "ready"] += c.n;
    else if (c.status === "assigned" || c.status === "in_progress") counts.running += c.n;
    else counts[c.status] += c.n;
  }
  return counts;
}

/** What happened since a time and what stands now, from the database alone. */
export function activityReport(o: Orchestrator, since: number): ActivityReport {
  const until = o.now();
  const byKind: Record<string, number> = {};
  for (const row of o.db
    .prepare(
      "SELECT kind, count(*) AS n FROM orchestrator_event WHERE at >= ? GROUP BY kind ORDER BY kind",
    )
    .all(since) as { kind: string; n: number }[]) {
    byKind[row.kind] = row.n;
  }
  const happened = {
    ...Object.fromEntries(
      Object.entries(HAPPENED).map(([name, kinds]) => [
        name,
        kinds.reduce((sum, k) => sum + (byKind[k] ?? 0), 0),
      ]),
    ),
    messages_sent: o.messages.sentSince(since),
  } as Happened;
  const taskTimes = (
    o.db
      .prepare(
        `SELECT t.task_id, t.status, min(a.assigned_at) AS started_at, t.completed_at AS finished_at
           FROM orchestrator_task a JOIN specs_task t ON t.task_id = a.task_id
          WHERE a.assigned_at >= ? OR t.completed_at >= ?
          GROUP BY t.task_id ORDER BY started_at`,
      )
      .all(since, since) as Omit<TaskTime, "duration_ms">[]
  ).map((t) => ({ ...t, duration_ms: (t.finished_at ?? until) - t.started_at }));
  const worktrees: Record<string, number> = {};
  for (const row of o.db
    .prepare("SELECT status, count(*) AS n FROM git_worktree_tracker GROUP BY status")
    .all() as {
    status: string;
    n: number;
  }[]) {
    worktrees[row.status] = row.n;
  }
  return {
    since,
    until,
    happened,
    events_by_kind: byKind,
    task_times: taskTimes,
    work_ms: taskTimes
      .filter((t) => t.finished_at !== null)
      .reduce((sum, t) => sum + t.duration_ms, 0),
    wall_ms: until - since,
    now: {
      agents: o.agents.live().map((row) => classifyAgent(row, o.config, until)),
      tasks: countTasks(o),
      worktrees,
      deadlocks: findDeadlocks(o),
    },
    graph: taskGraph(o),
  };
}

function taskGraph(o: Orchestrator): ActivityReport["graph"] {
  if (countTasks(o).total > GRAPH_LIMIT) return null;
  const dependsOn = new Map<string, string[]>();
  for (const [blocking, dependent] of o.tasks.edges()) {
    dependsOn.set(dependent, [...(dependsOn.get(dependent) ?? []), blocking]);
  }
  return o.tasks
    .summaries()
    .map((t) => ({ id: t.task_id, status: t.status, depends_on: dependsOn.get(t.task_id) ?? [] }));
}
