import { filesColumn, type TaskDefinition, type TaskRow, type TaskStatus } from "@orchestrator/db";
import type { Orchestrator } from "../context.js";
import { invalidInput, taskNotFound } from "../errors.js";
import { requireNoCaseTwins, requireValidIds } from "../ids.js";
import { requireReason } from "../input.js";
import { dependencyCycleError, TaskGraph } from "./graph.js";
import { type Plan, type PlanTask, validatePlanShape } from "./plan.js";

export {
  PLAN_MAX_BYTES,
  PLAN_MAX_TASKS,
  type Plan,
  type PlanTask,
  parsePlan,
  readPlanFile,
  validatePlanShape,
} from "./plan.js";

const FINISHED: ReadonlySet<TaskStatus> = new Set(["completed", "cancelled"]);

export interface ImportResult {
  imported: number;
  updated: number;
  unchanged: number;
  edges: number;
  edges_removed: number;
  /** Tasks already started whose plan entry differs: their database state was kept. */
  skipped_started: string[];
}

interface ImportOptions {
  /** Refuse tasks that already exist (tasks add). */
  insertOnly?: boolean;
}

/**
 * Loads a plan in one transaction, all or nothing. New tasks are inserted; tasks that have not
 * started take the plan's definition and dependencies; started tasks are left as they are.
 * The whole resulting graph is checked for cycles before anything is written.
 */
export function importPlan(o: Orchestrator, plan: Plan, options: ImportOptions = {}): ImportResult {
  const tasks = plan.tasks;
  validatePlanShape(tasks);
  return o.write(() => {
    const now = o.now();
    const stored = new Map<string, TaskRow>();
    for (const row of o.tasks.all()) stored.set(row.task_id, row);
    const existing = tasks.filter((t) => stored.has(t.id)).map((t) => t.id);
    if (options.insertOnly && existing.length > 0) {
      throw invalidInput(
        `task ${existing.map((id) => JSON.stringify(id)).join(", ")} already exists; change it with \`tasks import\``,
        { task_ids: existing },
      );
    }
    requireKnownDependencies(tasks, stored);
    requireNoCaseTwins(
      "task ids",
      tasks.map((t) => t.id),
      stored.keys(),
    );

    // Tasks whose definition and dependencies the plan may (re)write: new or not started.
    const rewritable = new Set(
      tasks.filter((t) => (stored.get(t.id)?.status ?? "pending") === "pending").map((t) => t.id),
    );
    const planned = new Map(tasks.map((t) => [t.id, t]));
    const { graph, order, storedBlockers } = resultingGraph(o, planned, stored, rewritable);

    const statusOf = (id: string): TaskStatus =>
      stored.get(id)?.status ?? planned.get(id)!.status ?? "pending";
    const criticalPath = graph.criticalPaths(order, (id) => FINISHED.has(statusOf(id)));
    const result: ImportResult = {
      imported: 0,
      updated: 0,
      unchanged: 0,
      edges: 0,
      edges_removed: 0,
      skipped_started: [],
    };
    const fresh = tasks.filter((t) => !stored.has(t.id));
    insertTasks(o, fresh, statusOf, (id) => criticalPath[graph.node(id)]!, now, result);
    for (const t of tasks) {
      const row = stored.get(t.id);
      if (!row) continue;
      const blockers = storedBlockers.get(t.id) ?? [];
      if (rewritable.has(t.id)) rewriteTask(o, row, t, blockers, now, result);
      else {
        if (differs(row, toDefinition(o, t), t.depends_on, blockers)) {
          result.skipped_started.push(t.id);
        }
        result.unchanged++;
      }
    }
    for (const row of stored.values()) {
      const length = criticalPath[graph.node(row.task_id)]!;
      if (row.critical_path !== length) o.tasks.setCriticalPath(row.task_id, length);
    }
    o.record({
      kind: "plan_imported",
      detail: { ...result, skipped_started: result.skipped_started.length },
    });
    return result;
  });
}

/**
 * The graph as it will be after the import: stored edges, except those of rewritable tasks,
 * which take the plan's. Refuses a cycle. Also returns the stored blockers of the plan's tasks.
 */
function resultingGraph(
  o: Orchestrator,
  planned: ReadonlyMap<string, PlanTask>,
  stored: ReadonlyMap<string, TaskRow>,
  rewritable: ReadonlySet<string>,
): { graph: TaskGraph; order: number[]; storedBlockers: Map<string, string[]> } {
  const graph = new TaskGraph();
  for (const id of stored.keys()) graph.node(id);
  for (const id of planned.keys()) graph.node(id);
  const storedBlockers = new Map<string, string[]>();
  for (const [blocking, dependent] of o.tasks.edges()) {
    if (!rewritable.has(dependent)) graph.addEdge(blocking, dependent);
    if (!planned.has(dependent)) continue;
    if (storedBlockers.has(dependent)) storedBlockers.get(dependent)!.push(blocking);
    else storedBlockers.set(dependent, [blocking]);
  }
  for (const t of planned.values()) {
    if (!rewritable.has(t.id)) continue;
    for (const dep of new Set(t.depends_on)) graph.addEdge(dep, t.id);
  }
  const order = graph.topologicalOrder();
  if (!order) throw dependencyCycleError(graph.findCycle()!);
  return { graph, order, storedBlockers };
}

/**
 * Inserts new tasks with their unfinished-blocker count and critical path already computed.
 * Their edges go in first, while the tasks they lead to do not exist yet (foreign keys are
 * checked at commit): the triggers that keep the counts then have no row to update, so a
 * 100,000-task plan is not written one count change at a time.
 */
function insertTasks(
  o: Orchestrator,
  fresh: readonly PlanTask[],
  statusOf: (id: string) => TaskStatus,
  criticalPath: (id: string) => number,
  now: number,
  result: ImportResult,
): void {
  if (fresh.length === 0) return;
  o.tasks.deferForeignKeyChecks();
  const blockers = fresh.map((t) => [...new Set(t.depends_on)]);
  result.edges += o.tasks.addDependencies(
    fresh.flatMap((t, i) => blockers[i]!.map((dep) => [dep, t.id] as const)),
  );
  o.tasks.insert(
    fresh.map((t, i) => ({
      definition: toDefinition(o, t),
      status: statusOf(t.id),
      unfinishedBlockers: blockers[i]!.filter((dep) => statusOf(dep) !== "completed").length,
      criticalPath: criticalPath(t.id),
    })),
    now,
  );
  result.imported += fresh.length;
}

/** A task not started yet takes the plan's definition and dependencies. */
function rewriteTask(
  o: Orchestrator,
  row: TaskRow,
  t: PlanTask,
  storedBlockers: readonly string[],
  now: number,
  result: ImportResult,
): void {
  const definition = toDefinition(o, t);
  if (definitionDiffers(row, definition)) {
    o.tasks.updateDefinition(definition, now);
    result.updated++;
  } else result.unchanged++;
  const wanted = new Set(t.depends_on);
  for (const blocking of storedBlockers) {
    if (wanted.has(blocking)) wanted.delete(blocking);
    else {
      o.tasks.removeDependency(blocking, t.id);
      result.edges_removed++;
    }
  }
  result.edges += o.tasks.addDependencies([...wanted].map((dep) => [dep, t.id] as const));
}

function requireKnownDependencies(
  tasks: readonly PlanTask[],
  stored: ReadonlyMap<string, TaskRow>,
): void {
  const inPlan = new Set(tasks.map((t) => t.id));
  const unknown: { task_id: string; depends_on: string }[] = [];
  for (const t of tasks) {
    for (const dep of t.depends_on) {
      if (!inPlan.has(dep) && !stored.has(dep)) unknown.push({ task_id: t.id, depends_on: dep });
    }
  }
  if (unknown.length > 0) {
    const shown = unknown
      .slice(0, 10)
      .map((u) => `${u.task_id} -> ${u.depends_on}`)
      .join(", ");
    throw invalidInput(
      `unknown dependenc${unknown.length > 1 ? "ies" : "y"}: ${shown}${unknown.length > 10 ? ` and ${unknown.length - 10} more` : ""}; add the missing tasks to the plan or fix the ids`,
      { unknown_dependencies: unknown },
    );
  }
}

function toDefinition(o: Orchestrator, t: PlanTask): TaskDefinition {
  return {
    task_id: t.id,
    title: t.title,
    priority_id: t.group ?? null,
    priority: t.priority,
    agent_type: t.agent_type ?? o.config.default_agent_type,
    files: t.files ?? null,
  };
}

function differs(
  row: TaskRow,
  definition: TaskDefinition,
  dependsOn: readonly string[],
  storedBlockers: readonly string[],
): boolean {
  if (definitionDiffers(row, definition)) return true;
  const current = [...storedBlockers].sort();
  const wanted = [...new Set(dependsOn)].sort();
  return current.length !== wanted.length || current.some((id, i) => id !== wanted[i]);
}

function definitionDiffers(row: TaskRow, definition: TaskDefinition): boolean {
  return (
    row.title !== definition.title ||
    row.priority_id !== definition.priority_id ||
    row.priority !== definition.priority ||
    row.agent_type !== definition.agent_type ||
    row.files !== filesColumn(definition)
  );
}

export function requireTask(o: Orchestrator, taskId: string): TaskRow {
  requireValidIds("task id", [taskId]);
  const row = o.tasks.get(taskId);
  if (!row) throw taskNotFound([taskId]);
  return row;
}

export interface TaskView {
  id: string;
  title: string;
  status: TaskStatus;
  group: string | null;
  priority: number;
  agent_type: string;
  files: string[] | null;
  depends_on: string[];
  blocked_by: string[];
  critical_path: number;
  attempts: number;
  status_reason: string | null;
}

function view(o: Orchestrator, row: TaskRow): TaskView {
  const blockers = o.tasks.blockersOf(row.task_id);
  return {
    id: row.task_id,
    title: row.title,
    status: row.status,
    group: row.priority_id,
    priority: row.priority,
    agent_type: row.agent_type,
    files: row.files ? (JSON.parse(row.files) as string[]) : null,
    depends_on: blockers.map((b) => b.task_id),
    blocked_by: blockers.filter((b) => b.status !== "completed").map((b) => b.task_id),
    critical_path: row.critical_path,
    attempts: row.attempts,
    status_reason: row.status_reason,
  };
}

export interface ListFilter {
  status?: TaskStatus;
  group?: string;
  agentType?: string;
}

export function listTasks(o: Orchestrator, filter: ListFilter = {}): { tasks: TaskView[] } {
  const rows = o.tasks.list(filter);
  const blockers = new Map<string, { task_id: string; status: TaskStatus }[]>();
  const status = new Map<string, TaskStatus>();
  for (const row of o.tasks.summaries()) status.set(row.task_id, row.status);
  for (const [blocking, dependent] of o.tasks.edges()) {
    const list = blockers.get(dependent) ?? [];
    blockers.set(dependent, list);
    list.push({ task_id: blocking, status: status.get(blocking)! });
  }
  return {
    tasks: rows.map((row) => {
      const mine = (blockers.get(row.task_id) ?? []).sort((a, b) =>
        a.task_id < b.task_id ? -1 : 1,
      );
      return {
        ...view(o, { ...row }),
        depends_on: mine.map((b) => b.task_id),
        blocked_by: mine.filter((b) => b.status !== "completed").map((b) => b.task_id),
      };
    }),
  };
}

export interface TaskDetail extends TaskView {
  dependents: string[];
  ready: boolean;
  explanation: string;
  assignment: ReturnType<Orchestrator["assignments"]["latest"]> | null;
}

export function showTask(o: Orchestrator, taskId: string): TaskDetail {
  const row = requireTask(o, taskId);
  const base = view(o, row);
  const ready = row.status === "pending" && row.unfinished_blockers === 0;
  return {
    ...base,
    dependents: o.tasks.dependentsOf(taskId).map((d) => d.task_id),
    ready,
    explanation: explain(o, row, base),
    assignment: o.assignments.latest(taskId) ?? null,
  };
}

function explain(o: Orchestrator, row: TaskRow, v: TaskView): string {
  switch (row.status) {
    case "pending": {
      if (row.unfinished_blockers === 0) return "ready: every task it depends on is completed";
      const waiting = o.tasks
        .blockersOf(row.task_id)
        .filter((b) => b.status !== "completed")
        .map((b) => `${b.task_id} (${b.status})`);
      return `blocked: waiting on ${waiting.join(", ")}`;
    }
    case "completed":
      return "completed: merged into the integration branch";
    case "failed":
    case "conflict":
    case "cancelled":
      return `${row.status}${row.status_reason ? `: ${row.status_reason}` : ""}; \`tasks retry ${v.id}\` puts it back to pending`;
    default:
      return `${row.status}: being worked on (attempt ${row.attempts})`;
  }
}

export interface TransitionResult {
  task_id: string;
  status: TaskStatus;
  previous_status: TaskStatus;
  changed: boolean;
  /** Dependents that became ready through this change. */
  unblocked: string[];
}

/** Marks a task completed (merged): its dependents' blocker counts drop in the same transaction. */
export function completeTask(
  o: Orchestrator,
  taskId: string,
  reason: string | null = null,
): TransitionResult {
  requireReason("--reason", reason);
  return o.write(() => {
    const row = requireTask(o, taskId);
    if (row.status === "completed") {
      return {
        task_id: taskId,
        status: row.status,
        previous_status: row.status,
        changed: false,
        unblocked: [],
      };
    }
    const now = o.now();
    o.tasks.transition(taskId, [row.status], "completed", now, reason);
    o.assignments.setActiveStatus(taskId, "completed", now);
    const unblocked = o.tasks
      .dependentsOf(taskId)
      .filter((d) => d.status === "pending" && o.tasks.get(d.task_id)!.unfinished_blockers === 0)
      .map((d) => d.task_id);
    o.record({ kind: "task_completed", task_id: taskId, detail: { from: row.status, unblocked } });
    return {
      task_id: taskId,
      status: "completed",
      previous_status: row.status,
      changed: true,
      unblocked,
    };
  });
}

/** Marks a task failed; the reason is kept for `tasks show` and reports. */
export function failTask(o: Orchestrator, taskId: string, reason: string | null): TransitionResult {
  requireReason("--reason", reason);
  return o.write(() => {
    const row = requireTask(o, taskId);
    if (row.status === "failed") {
      return {
        task_id: taskId,
        status: row.status,
        previous_status: row.status,
        changed: false,
        unblocked: [],
      };
    }
    if (row.status === "completed") {
      throw invalidInput(`task ${taskId} is already completed (merged); it cannot fail`, {
        task_id: taskId,
        status: row.status,
      });
    }
    const now = o.now();
    o.tasks.transition(taskId, [row.status], "failed", now, reason);
    o.assignments.setActiveStatus(taskId, "failed", now);
    o.record({ kind: "task_failed", task_id: taskId, detail: { from: row.status, reason } });
    return {
      task_id: taskId,
      status: "failed",
      previous_status: row.status,
      changed: true,
      unblocked: [],
    };
  });
}

/**
 * Marks a task conflicted: its branch could not be merged. Its unfinished attempt stays open
 * (status conflict) so the agent can rebase and ask for the merge again.
 */
export function markTaskConflict(
  o: Orchestrator,
  taskId: string,
  reason: string | null,
): TransitionResult {
  return o.write(() => {
    const row = requireTask(o, taskId);
    if (row.status === "completed") {
      throw invalidInput(`task ${taskId} is already completed (merged); it cannot conflict`, {
        task_id: taskId,
        status: row.status,
      });
    }
    const now = o.now();
    const changed = o.tasks.transition(taskId, [row.status], "conflict", now, reason);
    o.assignments.setActiveStatus(taskId, "conflict", now);
    if (row.status !== "conflict") {
      o.record({ kind: "task_conflict", task_id: taskId, detail: { from: row.status, reason } });
    }
    return {
      task_id: taskId,
      status: "conflict",
      previous_status: row.status,
      changed: changed && row.status !== "conflict",
      unblocked: [],
    };
  });
}

/** Puts a failed, conflicted or cancelled task back to pending so it can be assigned again. */
export function retryTask(o: Orchestrator, taskId: string): TransitionResult {
  return o.write(() => {
    const row = requireTask(o, taskId);
    if (!["failed", "conflict", "cancelled"].includes(row.status)) {
      throw invalidInput(
        `task ${taskId} is ${row.status}; only failed, conflict or cancelled tasks can be retried`,
        { task_id: taskId, status: row.status },
      );
    }
    const now = o.now();
    o.tasks.transition(taskId, [row.status], "pending", now);
    o.assignments.setActiveStatus(taskId, "cancelled", now);
    o.record({ kind: "task_retried", task_id: taskId, detail: { from: row.status } });
    return {
      task_id: taskId,
      status: "pending",
      previous_status: row.status,
      changed: true,
      unblocked: [],
    };
  });
}
