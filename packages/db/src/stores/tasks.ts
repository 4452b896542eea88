import type { Db } from "../connection.js";
import { statement } from "../statements.js";

export const TASK_STATUSES = [
  "pending",
  "assigned",
  "in_progress",
  "review",
  "completed",
  "failed",
  "conflict",
  "cancelled",
] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** Statuses of a task whose work exists but is not merged yet. */
export const IN_FLIGHT_STATUSES: readonly TaskStatus[] = [
  "assigned",
  "in_progress",
  "review",
  "conflict",
];
/** Statuses that occupy an agent: counted against --max-parallel. */
export const RUNNING_STATUSES: readonly TaskStatus[] = ["assigned", "in_progress"];

export interface TaskRow {
  task_id: string;
  title: string;
  priority_id: string | null;
  priority: number;
  agent_type: string;
  files: string | null;
  status: TaskStatus;
  unfinished_blockers: number;
  critical_path: number;
  attempts: number;
  status_reason: string | null;
  created_at: number;
  updated_at: number;
  completed_at: number | null;
}

export interface TaskDefinition {
  task_id: string;
  title: string;
  priority_id: string | null;
  priority: number;
  agent_type: string;
  files: readonly string[] | null;
}

/** A task to insert, with what the task graph says of it. */
export interface NewTask {
  definition: TaskDefinition;
  status: TaskStatus;
  unfinishedBlockers: number;
  criticalPath: number;
}

export interface TaskFilter {
  status?: TaskStatus;
  group?: string;
  agentType?: string;
}

export interface ReadyFilter {
  group?: string;
  agentType?: string;
}

export interface StatusCount {
  status: TaskStatus;
  blocked: 0 | 1;
  n: number;
}

/** Rows per multi-row INSERT: far below SQLite's 32,766 bound parameters. */
const EDGES_PER_STATEMENT = 500;
const TASKS_PER_STATEMENT = 200;

/** specs_task and specs_task_dependency: the task graph's rows. Decides nothing. */
export class TaskStore {
  constructor(private readonly db: Db) {}

  get(taskId: string): TaskRow | undefined {
    return statement<[string], TaskRow>(this.db, "SELECT * FROM specs_task WHERE task_id = ?").get(
      taskId,
    );
  }

  /**
   * Inserts tasks, many rows per statement. Their edges are already in place (see
   * deferForeignKeyChecks), so each comes with its count of unfinished blockers and its
   * critical path.
   */
  insert(tasks: readonly NewTask[], now: number): void {
    for (let start = 0; start < tasks.length; start += TASKS_PER_STATEMENT) {
      const chunk = tasks.slice(start, start + TASKS_PER_STATEMENT);
      statement(
        this.db,
        `INSERT INTO specs_task (task_id, title, priority_id, priority, agent_type, files, status,
                                 unfinished_blockers, critical_path, created_at, updated_at, completed_at)
         VALUES ${Array(chunk.length).fill("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}`,
      ).run(
        ...chunk.flatMap(({ definition: task, status, unfinishedBlockers, criticalPath }) => [
          task.task_id,
          task.title,
          task.priority_id,
          task.priority,
          task.agent_type,
          filesColumn(task),
          status,
          unfinishedBlockers,
          criticalPath,
          now,
          now,
          status === "completed" ? now : null,
        ]),
      );
    }
  }

  /**
   * Until this transaction commits, foreign keys are checked at commit instead of per row, so
   * the edges of new tasks can be written before the tasks themselves.
   */
  deferForeignKeyChecks(): void {
    this.db.pragma("defer_foreign_keys = ON");
  }

  /** Every task row, in no particular order. */
  all(): TaskRow[] {
    return statement<[], TaskRow>(this.db, "SELECT * FROM specs_task").all();
  }

  /** Rewrites a task's definition. */
  updateDefinition(task: TaskDefinition, now: number): void {
    statement(
      this.db,
      `UPDATE specs_task SET title = ?, priority_id = ?, priority = ?, agent_type = ?, files = ?,
                             updated_at = ?
        WHERE task_id = ?`,
    ).run(
      task.title,
      task.priority_id,
      task.priority,
      task.agent_type,
      filesColumn(task),
      now,
      task.task_id,
    );
  }

  /**
   * Moves a task to `to` only if its status is one of `from`: the conditional update that
   * makes every claim safe under concurrent processes. Returns whether it moved.
   */
  transition(
    taskId: string,
    from: readonly TaskStatus[],
    to: TaskStatus,
    now: number,
    reason: string | null = null,
  ): boolean {
    const placeholders = from.map(() => "+?").join(", ");
    return (
      statement(
        this.db,
        `UPDATE specs_task
            SET status = ?, status_reason = ?, updated_at = ?,
                attempts = attempts + (? = 'assigned'),
                completed_at = CASE WHEN ? = 'completed' THEN ? ELSE NULL END
          WHERE task_id = +? AND status IN (${placeholders})`,
      ).run(to, reason, now, to, to, now, taskId, ...from).changes === 1
    );
  }

  /** Claims a ready task: pending with every blocker completed. */
  claimReady(taskId: string, now: number): boolean {
    return (
      statement(
        this.db,
        `UPDATE specs_task SET status = 'assigned', status_reason = NULL, updated_at = ?,
                               attempts = attempts + 1
          WHERE task_id = ? AND status = 'pending' AND unfinished_blockers = 0`,
      ).run(now, taskId).changes === 1
    );
  }

  setCriticalPath(taskId: string, length: number): void {
    statement(this.db, "UPDATE specs_task SET critical_path = ? WHERE task_id = ?").run(
      length,
      taskId,
    );
  }

  /** Whether some task is for this agent type. */
  agentTypeInUse(agentType: string): boolean {
    return (
      statement<[string], { found: number }>(
        this.db,
        "SELECT EXISTS (SELECT 1 FROM specs_task WHERE agent_type = ?) AS found",
      ).get(agentType)?.found === 1
    );
  }

  /** Ready tasks in assignment order, streamed: callers stop reading when they have enough. */
  *ready(filter: ReadyFilter = {}): IterableIterator<TaskRow> {
    const where = ["status = 'pending'", "unfinished_blockers = 0"];
    const params: unknown[] = [];
    if (filter.group !== undefined) {
      where.push("priority_id = ?");
      params.push(filter.group);
    }
    if (filter.agentType !== undefined) {
      where.push("agent_type = ?");
      params.push(filter.agentType);
    }
    const index = filter.group !== undefined ? "specs_task_ready_by_group" : "specs_task_ready";
    yield* statement<unknown[], TaskRow>(
      this.db,
      `SELECT * FROM specs_task INDEXED BY ${index} WHERE ${where.join(" AND ")}
        ORDER BY priority, critical_path DESC, task_id`,
    ).iterate(...params);
  }

  withStatus(statuses: readonly TaskStatus[]): TaskRow[] {
    const placeholders = statuses.map(() => "?").join(", ");
    return statement<unknown[], TaskRow>(
      this.db,
      `SELECT * FROM specs_task WHERE status IN (${placeholders}) ORDER BY task_id`,
    ).all(...statuses);
  }

  list(filter: TaskFilter = {}): TaskRow[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.status !== undefined) {
      where.push("status = ?");
      params.push(filter.status);
    }
    if (filter.group !== undefined) {
      where.push("priority_id = ?");
      params.push(filter.group);
    }
    if (filter.agentType !== undefined) {
      where.push("agent_type = ?");
      params.push(filter.agentType);
    }
    const clause = where.length ? `WHERE ${where.join(" AND ")}` : "";
    return statement<unknown[], TaskRow>(
      this.db,
      `SELECT * FROM specs_task ${clause} ORDER BY priority, critical_path DESC, task_id`,
    ).all(...params);
  }

  counts(): StatusCount[] {
    return statement<[], StatusCount>(
      this.db,
      "SELECT status, blocked, n FROM specs_task_count WHERE n > 0",
    ).all();
  }

  /** Inserts edges `[blocking, dependent]`, many rows per statement; returns how many were new. */
  addDependencies(edges: readonly (readonly [string, string])[]): number {
    let added = 0;
    for (let start = 0; start < edges.length; start += EDGES_PER_STATEMENT) {
      const chunk = edges.slice(start, start + EDGES_PER_STATEMENT);
      added += statement(
        this.db,
        `INSERT INTO specs_task_dependency (blocking_task_id, dependent_task_id)
         VALUES ${Array(chunk.length).fill("(?, ?)").join(", ")} ON CONFLICT DO NOTHING`,
      ).run(...chunk.flat()).changes;
    }
    return added;
  }

  removeDependency(blockingTaskId: string, dependentTaskId: string): void {
    statement(
      this.db,
      "DELETE FROM specs_task_dependency WHERE blocking_task_id = ? AND dependent_task_id = ?",
    ).run(blockingTaskId, dependentTaskId);
  }

  /** The tasks a task waits on, with their status. */
  blockersOf(taskId: string): Pick<TaskRow, "task_id" | "status">[] {
    return statement<[string], Pick<TaskRow, "task_id" | "status">>(
      this.db,
      `SELECT t.task_id, t.status FROM specs_task_dependency d
         JOIN specs_task t ON t.task_id = d.blocking_task_id
        WHERE d.dependent_task_id = +? ORDER BY t.task_id`,
    ).all(taskId);
  }

  /** The tasks waiting on a task, with their status. */
  dependentsOf(taskId: string): Pick<TaskRow, "task_id" | "status">[] {
    return statement<[string], Pick<TaskRow, "task_id" | "status">>(
      this.db,
      `SELECT t.task_id, t.status FROM specs_task_dependency d
         JOIN specs_task t ON t.task_id = d.dependent_task_id
        WHERE d.blocking_task_id = +? ORDER BY t.task_id`,
    ).all(taskId);
  }

  /** Every edge, as [blocking, dependent]. */
  edges(): [string, string][] {
    return statement<[], [string, string]>(
      this.db,
      "SELECT blocking_task_id, dependent_task_id FROM specs_task_dependency",
    )
      .raw(true)
      .all();
  }

  /** Every task's id, status and critical path (for whole-graph checks). */
  summaries(): Pick<TaskRow, "task_id" | "status" | "critical_path">[] {
    return statement<[], Pick<TaskRow, "task_id" | "status" | "critical_path">>(
      this.db,
      "SELECT task_id, status, critical_path FROM specs_task",
    ).all();
  }

  /**
   * Unfinished tasks that hold others back and are not themselves waiting: running, in
   * review, failed, conflicted or cancelled blockers of blocked tasks.
   */
  rootBlockers(limit: number): (Pick<TaskRow, "task_id" | "status" | "status_reason"> & {
    waiting: number;
  })[] {
    return statement<
      [number],
      Pick<TaskRow, "task_id" | "status" | "status_reason"> & { waiting: number }
    >(
      this.db,
      `SELECT t.task_id, t.status, t.status_reason,
              (SELECT count(*) FROM specs_task_dependency d WHERE d.blocking_task_id = t.task_id) AS waiting
         FROM specs_task t INDEXED BY specs_task_status
        WHERE t.status IN ('assigned','in_progress','review','failed','conflict','cancelled')
          AND EXISTS (SELECT 1 FROM specs_task_dependency d WHERE d.blocking_task_id = t.task_id)
        ORDER BY t.status IN ('failed','conflict','cancelled') DESC, waiting DESC, t.task_id
        LIMIT ?`,
    ).all(limit);
  }
}

/** How a task's `files` patterns are stored: a JSON array, or NULL for none. */
export function filesColumn(task: Pick<TaskDefinition, "files">): string | null {
  return task.files ? JSON.stringify(task.files) : null;
}
