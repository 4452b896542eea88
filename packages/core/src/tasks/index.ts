import type { TaskDefinition, TaskRow, TaskStatus } from "@orchestrator/db";
import type { Orchestrator } from "../context.js";
import { invalidInput, taskNotFound } from "../errors.js";
import { requireNoCaseTwins, requireValidIds } from "../ids.js";
import { requireReason } from "../input.js";
import { dependencyCycleError, TaskGraph } from "./graph.js";
import type { Plan, PlanTask } from "./plan.js";

export {
  PLAN_MAX_BYTES,
  PLAN_MAX_TASKS,
  type Plan,
  type PlanTask,
  parsePlan,
  readPlanFile,
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
    const existing = new Map<string, TaskRow>();
    for (const t of tasks) {
      const row = o.tasks.get(t.id);
      if (row) existing.set(t.id, row);
    }
    if (options.insertOnly && existing.size > 0) {
      const ids = [...existing.keys()];
      throw invalidInput(
        `task ${ids.map((id) => JSON.stringify(id)).join(", ")} already exists; change it with \`tasks import\``,
        { task_ids: ids },
      );
    }
    requireKnownDependencies(o, tasks);

    const summaries = o.tasks.summaries();
    requireNoCaseTwins(
      "task ids",
      tasks.map((t) => t.id),
      summaries.map((s) => s.task_id),
    );

    // Tasks whose definition and dependencies the plan may (re)write: new or not started.
    const rewritable = new Set(
      tasks.filter((t) => (existing.get(t.id)?.status ?? "pending") === "pending").map((t) => t.id),
    );

    const graph = new TaskGraph();
    for (const s of summaries) graph.node(s.task_id);
    for (const t of tasks) graph.node(t.id);
    for (const [blocking, dependent] of o.tasks.edges()) {
      if (!rewritable.has(dependent)) graph.addEdge(blocking, dependent);
    }
    for (const t of tasks) {
      if (!rewritable.has(t.id)) continue;
      for (const dep of new Set(t.depends_on)) graph.addEdge(dep, t.id);
    }
    const order = graph.topologicalOrder();
    if (!order) throw dependencyCycleError(graph.findCycle()!);

    const result: ImportResult = {
      imported: 0,
      updated: 0,
      unchanged: 0,
      edges: 0,
      edges_removed: 0,
      skipped_started: [],
    };
    for (const t of tasks) {
      const row = existing.get(t.id);
      const definition = toDefinition(o, t);
      if (!row) {
        o.tasks.insert(definition, t.status ?? "pending", now);
        result.imported++;
      } else if (rewritable.has(t.id)) {
        if (o.tasks.updateDefinition(definition, now)) result.updated++;
        else result.unchanged++;
      } else {
        if (differs(o, row, definition, t.depends_on)) result.skipped_started.push(t.id);
        result.unchanged++;
      }
    }
    for (const t of tasks) {
      if (!rewritable.has(t.id)) continue;
      const wanted = new Set(t.depends_on);
      if (existing.has(t.id)) {
        for (const b of o.tasks.blockersOf(t.id)) {
          if (wanted.has(b.task_id)) wanted.delete(b.task_id);
          else {
            o.tasks.removeDependency(b.task_id, t.id);
            result.edges_removed++;
          }
        }
      }
      for (const dep of wanted) if (o.tasks.addDependency(dep, t.id)) result.edges++;
    }

    updateCriticalPaths(o, graph, order, summaries, tasks);
    o.record({
      kind: "plan_imported",
      detail: { ...result, skipped_started: result.skipped_started.length },
    });
    return result;
  });
}

function validatePlanShape(tasks: readonly PlanTask[]): void {
  requireValidIds(
    "task id",
    tasks.map((t) => t.id),
  );
  requireValidIds(
    "task id",
    tasks.flatMap((t) => t.depends_on),
  );
  requireValidIds(
    "agent type",
    tasks.flatMap((t) => (t.agent_type === undefined ? [] : [t.agent_type])),
  );
  const seen = new Set<string>();
  const duplicates = new Set<string>();
  for (const t of tasks) (seen.has(t.id) ? duplicates : seen).add(t.id);
  if (duplicates.size > 0) {
    throw invalidInput(
      `duplicate task id ${[...duplicates].map((id) => JSON.stringify(id)).join(", ")} in the plan; every id must be unique`,
      {
        duplicate_ids: [...duplicates],
      },
    );
  }
  const selfDependent = tasks.filter((t) => t.depends_on.includes(t.id)).map((t) => t.id);
  if (selfDependent.length > 0) {
    throw invalidInput(
      `task ${selfDependent.map((id) => JSON.stringify(id)).join(", ")} depends on itself; remove it from its own depends_on`,
      { task_ids: selfDependent },
    );
  }
}

function requireKnownDependencies(o: Orchestrator, tasks: readonly PlanTask[]): void {
  const inPlan = new Set(tasks.map((t) => t.id));
  const known = new Map<string, boolean>();
  const unknown: { task_id: string; depends_on: string }[] = [];
  for (const t of tasks) {
    for (const dep of t.depends_on) {
      if (inPlan.has(dep)) continue;
      let exists = known.get(dep);
      if (exists === undefined) {
        exists = o.tasks.get(dep) !== undefined;
        known.set(dep, exists);
      }
      if (!exists) unknown.push({ task_id: t.id, depends_on: dep });
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
  o: Orchestrator,
  row: TaskRow,
  definition: TaskDefinition,
  dependsOn: readonly string[],
): boolean {
  const files = definition.files ? JSON.stringify(definition.files) : null;
  if (
    row.title !== definition.title ||
    row.priority_id !== definition.priority_id ||
    row.priority !== definition.priority ||
    row.agent_type !== definition.agent_type ||
    row.files !== files
  ) {
    return true;
  }
  const current = o.tasks.blockersOf(row.task_id).map((b) => b.task_id);
  const wanted = [...new Set(dependsOn)].sort();
  return current.length !== wanted.length || current.some((id, i) => id !== wanted[i]);
}

function updateCriticalPaths(
  o: Orchestrator,
  graph: TaskGraph,
  order: number[],
  summaries: ReturnType<Orchestrator["tasks"]["summaries"]>,
  tasks: readonly PlanTask[],
): void {
  const status = new Map<string, TaskStatus>();
  const stored = new Map<string, number>();
  for (const s of summaries) {
    status.set(s.task_id, s.status);
    stored.set(s.task_id, s.critical_path);
  }
  for (const t of tasks) if (!status.has(t.id)) status.set(t.id, t.status ?? "pending");
  const lengths = graph.criticalPaths(order, (id) => FINISHED.has(status.get(id)!));
  for (let i = 0; i < graph.ids.length; i++) {
    const id = graph.ids[i]!;
    if ((stored.get(id) ?? 0) !== lengths[i]) o.tasks.setCriticalPath(id, lengths[i]!);
  }
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
