import type { Db } from "../connection.js";
import { statement } from "../statements.js";

export type AssignmentStatus =
  | "assigned"
  | "in_progress"
  | "review"
  | "conflict"
  | "completed"
  | "failed"
  | "cancelled";

export const ACTIVE_ASSIGNMENT_STATUSES: readonly AssignmentStatus[] = [
  "assigned",
  "in_progress",
  "review",
  "conflict",
];

export interface AssignmentRow {
  id: number;
  task_id: string;
  agent_type: string;
  agent_id: string | null;
  status: AssignmentStatus;
  worktree_path: string | null;
  branch: string | null;
  assigned_at: number;
  started_at: number | null;
  finished_at: number | null;
  updated_at: number;
}

export interface AssignmentUpdate {
  agent_id?: string | null;
  worktree_path?: string | null;
  branch?: string | null;
}

/** orchestrator_task: one row per assignment attempt; at most one unfinished per task. */
export class AssignmentStore {
  constructor(private readonly db: Db) {}

  insert(taskId: string, agentType: string, now: number): number {
    return Number(
      statement(
        this.db,
        `INSERT INTO orchestrator_task (task_id, agent_type, status, assigned_at, updated_at)
         VALUES (?, ?, 'assigned', ?, ?)`,
      ).run(taskId, agentType, now, now).lastInsertRowid,
    );
  }

  /** The task's unfinished attempt, if any. */
  active(taskId: string): AssignmentRow | undefined {
    return statement<[string], AssignmentRow>(
      this.db,
      `SELECT * FROM orchestrator_task
        WHERE task_id = ? AND status IN ('assigned','in_progress','review','conflict')`,
    ).get(taskId);
  }

  latest(taskId: string): AssignmentRow | undefined {
    return statement<[string], AssignmentRow>(
      this.db,
      "SELECT * FROM orchestrator_task WHERE task_id = ? ORDER BY id DESC LIMIT 1",
    ).get(taskId);
  }

  /** Moves the task's unfinished attempt to `status` (finishing it when that status is final). */
  setActiveStatus(taskId: string, status: AssignmentStatus, now: number): boolean {
    const finished = !ACTIVE_ASSIGNMENT_STATUSES.includes(status);
    return (
      statement(
        this.db,
        `UPDATE orchestrator_task
            SET status = ?, updated_at = ?,
                started_at = CASE WHEN ? = 'in_progress' THEN coalesce(started_at, ?) ELSE started_at END,
                finished_at = CASE WHEN ? THEN ? ELSE NULL END
          WHERE task_id = ? AND status IN ('assigned','in_progress','review','conflict')`,
      ).run(status, now, status, now, finished ? 1 : 0, now, taskId).changes === 1
    );
  }

  updateActive(taskId: string, update: AssignmentUpdate, now: number): void {
    const sets: string[] = [];
    const params: unknown[] = [];
    for (const [column, value] of Object.entries(update)) {
      if (value === undefined) continue;
      sets.push(`${column} = ?`);
      params.push(value);
    }
    if (sets.length === 0) return;
    statement(
      this.db,
      `UPDATE orchestrator_task SET ${sets.join(", ")}, updated_at = ?
        WHERE task_id = ? AND status IN ('assigned','in_progress','review','conflict')`,
    ).run(...params, now, taskId);
  }
}
