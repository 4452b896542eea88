import { IN_FLIGHT_STATUSES, RUNNING_STATUSES, type TaskRow } from "@orchestrator/db";
import type { Orchestrator } from "../context.js";
import { invalidInput, taskNotFound } from "../errors.js";
import { requireValidIds } from "../ids.js";
import { firstOverlap } from "./files.js";

export interface AssignOptions {
  priorityId?: string;
  taskIds?: readonly string[];
  agentType?: string;
  maxParallel?: number;
  dryRun?: boolean;
}

export type AssignStatus = "assigned" | "at_capacity" | "no_available_work" | "all_completed";

export interface Assignment {
  task_id: string;
  title: string;
  agent_type: string;
  orchestrator_task_id: number | null;
  message_id: number | null;
}

export interface Blocker {
  task_id: string;
  status: string;
  reason: string | null;
  /** How many tasks wait on it directly. */
  waiting: number;
}

export interface AssignResult {
  status: AssignStatus;
  tasks_assigned: number;
  assignments: Assignment[];
  /** Tasks occupying an agent (assigned, in progress, or failed and due a restart) after this assignment. */
  running: number;
  max_parallel: number;
  /** Pending tasks waiting on unfinished dependencies. */
  blocked_tasks: number;
  /** Ready tasks held back because a task in flight may write the same files. */
  waiting_on_files: { task_id: string; conflicts_with: string; patterns: [string, string] }[];
  /** Asked-for tasks (--task-ids) that are not ready, and why. */
  not_ready: { task_id: string; status: string; blocked_by: string[] }[];
  /** With no_available_work: the unfinished tasks holding the rest back. */
  blockers: Blocker[];
  dry_run: boolean;
}

export const DEFAULT_MAX_PARALLEL = 3;
const BLOCKERS_SHOWN = 10;
/** Ready tasks looked at beyond the free slots when file conflicts hold some back. */
const FILE_CONFLICT_LOOKAHEAD = 1000;

interface Candidate {
  row: TaskRow;
  files: string[] | null;
}

/**
 * Picks ready tasks (every blocker completed) in order of priority, then critical path, then
 * id; fills the free slots under max_parallel; never starts two tasks that may write the same
 * files; records the assignments and notifies each agent type, all in one IMMEDIATE
 * transaction, so concurrent `assign` processes can never hand out one task twice.
 */
export function assign(o: Orchestrator, options: AssignOptions = {}): AssignResult {
  const maxParallel = options.maxParallel ?? DEFAULT_MAX_PARALLEL;
  if (!Number.isInteger(maxParallel) || maxParallel < 1) {
    throw invalidInput(`--max-parallel must be a whole number of at least 1, not ${maxParallel}`, {
      max_parallel: maxParallel,
    });
  }
  if (options.taskIds) requireValidIds("task id", options.taskIds);
  if (options.agentType !== undefined) requireValidIds("agent type", [options.agentType]);

  const run = () => {
    const counts = countTasks(o);
    const result: AssignResult = {
      status: "assigned",
      tasks_assigned: 0,
      assignments: [],
      running: counts.running,
      max_parallel: maxParallel,
      blocked_tasks: counts.blocked,
      waiting_on_files: [],
      not_ready: [],
      blockers: [],
      dry_run: options.dryRun ?? false,
    };
    const candidates = options.taskIds
      ? requestedCandidates(o, options, result)
      : readyCandidates(o, options);
    const chosen = choose(o, candidates, maxParallel - counts.running, result);
    for (const candidate of chosen) {
      result.assignments.push(
        options.dryRun ? plannedAssignment(candidate.row) : recordAssignment(o, candidate.row),
      );
    }
    result.tasks_assigned = result.assignments.length;
    result.running += result.tasks_assigned;
    result.status = decideStatus(result, counts, maxParallel);
    if (result.status === "no_available_work") {
      result.blockers = o.tasks.rootBlockers(BLOCKERS_SHOWN).map((b) => ({
        task_id: b.task_id,
        status: b.status,
        reason: b.status_reason,
        waiting: b.waiting,
      }));
    }
    if (!options.dryRun && result.tasks_assigned > 0) {
      o.record({
        kind: "assign",
        detail: {
          assigned: result.tasks_assigned,
          running: result.running,
          max_parallel: maxParallel,
        },
      });
    }
    return result;
  };
  // A dry run reads a consistent snapshot and writes nothing.
  return options.dryRun ? o.db.transaction(run).deferred() : o.write(run);
}

interface Counts {
  total: number;
  finished: number;
  running: number;
  blocked: number;
}

function countTasks(o: Orchestrator): Counts {
  const counts: Counts = { total: 0, finished: 0, running: 0, blocked: 0 };
  for (const c of o.tasks.counts()) {
    counts.total += c.n;
    if (c.status === "completed" || c.status === "cancelled") counts.finished += c.n;
    if (RUNNING_STATUSES.includes(c.status)) counts.running += c.n;
    if (c.status === "pending" && c.blocked) counts.blocked += c.n;
  }
  // A failed task due a restart goes back to work without being assigned again: it keeps its slot.
  counts.running += o.agents.failedTasksAwaitingRestart();
  return counts;
}

function decideStatus(result: AssignResult, counts: Counts, maxParallel: number): AssignStatus {
  if (result.tasks_assigned > 0) return "assigned";
  if (counts.total > 0 && counts.finished === counts.total) return "all_completed";
  if (counts.running >= maxParallel) return "at_capacity";
  return "no_available_work";
}

function* readyCandidates(o: Orchestrator, options: AssignOptions): Generator<TaskRow> {
  yield* o.tasks.ready({
    ...(options.priorityId !== undefined ? { group: options.priorityId } : {}),
    ...(options.agentType !== undefined ? { agentType: options.agentType } : {}),
  });
}

function requestedCandidates(
  o: Orchestrator,
  options: AssignOptions,
  result: AssignResult,
): TaskRow[] {
  const rows: TaskRow[] = [];
  const unknown: string[] = [];
  for (const id of new Set(options.taskIds)) {
    const row = o.tasks.get(id);
    if (!row) unknown.push(id);
    else rows.push(row);
  }
  if (unknown.length > 0) throw taskNotFound(unknown);
  const ready: TaskRow[] = [];
  for (const row of rows) {
    const matches =
      (options.priorityId === undefined || row.priority_id === options.priorityId) &&
      (options.agentType === undefined || row.agent_type === options.agentType);
    if (row.status === "pending" && row.unfinished_blockers === 0 && matches) ready.push(row);
    else {
      result.not_ready.push({
        task_id: row.task_id,
        status: row.status === "pending" && row.unfinished_blockers > 0 ? "blocked" : row.status,
        blocked_by: o.tasks
          .blockersOf(row.task_id)
          .filter((b) => b.status !== "completed")
          .map((b) => b.task_id),
      });
    }
  }
  return ready.sort(
    (a, b) =>
      a.priority - b.priority ||
      b.critical_path - a.critical_path ||
      (a.task_id < b.task_id ? -1 : a.task_id > b.task_id ? 1 : 0),
  );
}

/** Takes candidates in order until the free slots are filled, skipping file conflicts. */
function choose(
  o: Orchestrator,
  candidates: Iterable<TaskRow>,
  freeSlots: number,
  result: AssignResult,
): Candidate[] {
  const chosen: Candidate[] = [];
  if (freeSlots <= 0) return chosen;
  let holders: Candidate[] | undefined;
  let skipped = 0;
  for (const row of candidates) {
    const files = row.files ? (JSON.parse(row.files) as string[]) : null;
    if (files) {
      holders ??= o.tasks
        .withStatus(IN_FLIGHT_STATUSES)
        .filter((t) => t.files)
        .map((t) => ({ row: t, files: JSON.parse(t.files!) as string[] }));
      const clash = [...holders, ...chosen].find(
        (h) => h.files && firstOverlap(files, h.files) !== undefined,
      );
      if (clash) {
        result.waiting_on_files.push({
          task_id: row.task_id,
          conflicts_with: clash.row.task_id,
          patterns: firstOverlap(files, clash.files!)!,
        });
        if (++skipped >= FILE_CONFLICT_LOOKAHEAD) break;
        continue;
      }
    }
    chosen.push({ row, files });
    if (chosen.length >= freeSlots) break;
  }
  return chosen;
}

function plannedAssignment(row: TaskRow): Assignment {
  return {
    task_id: row.task_id,
    title: row.title,
    agent_type: row.agent_type,
    orchestrator_task_id: null,
    message_id: null,
  };
}

function recordAssignment(o: Orchestrator, row: TaskRow): Assignment {
  const now = o.now();
  if (!o.tasks.claimReady(row.task_id, now)) {
    // Unreachable inside the write lock; kept so a future caller outside it fails loudly.
    throw new Error(`task ${row.task_id} stopped being ready while it was being assigned`);
  }
  const orchestratorTaskId = o.assignments.insert(row.task_id, row.agent_type, now);
  const messageId = o.messages.insert(
    {
      from_agent: "orchestrator",
      to_agent: row.agent_type,
      to_kind: "type",
      message_type: "task_assignment",
      content: JSON.stringify({
        task_id: row.task_id,
        title: row.title,
        orchestrator_task_id: orchestratorTaskId,
        group: row.priority_id,
        files: row.files ? JSON.parse(row.files) : null,
      }),
      priority: 1,
      max_attempts: o.config.messages.max_attempts,
      expires_at: now + o.config.messages.ttl,
      idempotency_key: `task_assignment:${orchestratorTaskId}`,
    },
    now,
  );
  o.record({
    kind: "task_assigned",
    task_id: row.task_id,
    message_id: messageId,
    detail: { agent_type: row.agent_type, orchestrator_task_id: orchestratorTaskId },
  });
  return {
    task_id: row.task_id,
    title: row.title,
    agent_type: row.agent_type,
    orchestrator_task_id: orchestratorTaskId,
    message_id: messageId,
  };
}
