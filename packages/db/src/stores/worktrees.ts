import type { Db } from "../connection.js";
import { statement } from "../statements.js";

export const WORKTREE_STATUSES = [
  "creating",
  "active",
  "merging",
  "merged",
  "removed",
  "conflict",
  "abandoned",
] as const;
export type WorktreeStatus = (typeof WORKTREE_STATUSES)[number];

/** Statuses of a worktree that exists (or is being made): at most one per task. */
export const LIVE_WORKTREE_STATUSES: readonly WorktreeStatus[] = [
  "creating",
  "active",
  "merging",
  "merged",
  "conflict",
];

export interface WorktreeRow {
  id: number;
  task_id: string;
  branch: string;
  worktree_path: string;
  base_branch: string;
  status: WorktreeStatus;
  merge_target: string | null;
  merge_commit: string | null;
  /** JSON array of conflicting paths from the last merge attempt. */
  conflicts: string | null;
  created_at: number;
  updated_at: number;
}

export interface NewWorktree {
  task_id: string;
  branch: string;
  worktree_path: string;
  base_branch: string;
}

export interface WorktreeUpdate {
  merge_target?: string | null;
  merge_commit?: string | null;
  conflicts?: string | null;
}

const LIVE = "('creating','active','merging','merged','conflict')";

/** git_worktree_tracker: the worktrees the orchestrator made. Decides nothing. */
export class WorktreeStore {
  constructor(private readonly db: Db) {}

  insert(row: NewWorktree, status: WorktreeStatus, now: number): number {
    return Number(
      statement(
        this.db,
        `INSERT INTO git_worktree_tracker (task_id, branch, worktree_path, base_branch, status,
                                           created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ).run(row.task_id, row.branch, row.worktree_path, row.base_branch, status, now, now)
        .lastInsertRowid,
    );
  }

  get(id: number): WorktreeRow | undefined {
    return statement<[number], WorktreeRow>(
      this.db,
      "SELECT * FROM git_worktree_tracker WHERE id = ?",
    ).get(id);
  }

  /** The task's live worktree row, if any. */
  live(taskId: string): WorktreeRow | undefined {
    return statement<[string], WorktreeRow>(
      this.db,
      `SELECT * FROM git_worktree_tracker WHERE task_id = ? AND status IN ${LIVE}`,
    ).get(taskId);
  }

  /** The task's newest row, live or not (a removed one says what became of its worktree). */
  latest(taskId: string): WorktreeRow | undefined {
    return statement<[string], WorktreeRow>(
      this.db,
      "SELECT * FROM git_worktree_tracker WHERE task_id = ? ORDER BY id DESC LIMIT 1",
    ).get(taskId);
  }

  /**
   * Moves a row to `to` only if its status is one of `from` (a conditional update, safe under
   * concurrent processes), setting the given columns too. Returns whether it moved.
   */
  transition(
    id: number,
    from: readonly WorktreeStatus[],
    to: WorktreeStatus,
    now: number,
    update: WorktreeUpdate = {},
  ): boolean {
    const sets = ["status = ?", "updated_at = ?"];
    const params: unknown[] = [to, now];
    for (const [column, value] of Object.entries(update)) {
      if (value === undefined) continue;
      sets.push(`${column} = ?`);
      params.push(value);
    }
    const placeholders = from.map(() => "?").join(", ");
    return (
      statement(
        this.db,
        `UPDATE git_worktree_tracker SET ${sets.join(", ")}
          WHERE id = ? AND status IN (${placeholders})`,
      ).run(...params, id, ...from).changes === 1
    );
  }

  /**
   * How the orchestrator has used `branch` as an integration branch: how many worktrees were
   * made from it or merged into it, and the last merge commit written onto it.
   */
  integrationUse(branch: string): { worktrees: number; last_merge_commit: string | null } {
    return statement<
      [string, string, string],
      { worktrees: number; last_merge_commit: string | null }
    >(
      this.db,
      `SELECT count(*) AS worktrees,
              (SELECT merge_commit FROM git_worktree_tracker
                WHERE merge_target = ? AND merge_commit IS NOT NULL
                ORDER BY updated_at DESC, id DESC LIMIT 1) AS last_merge_commit
         FROM git_worktree_tracker WHERE base_branch = ? OR merge_target = ?`,
    ).get(branch, branch, branch)!;
  }

  /** Rows in these statuses (default: the live ones), by task id. */
  list(statuses: readonly WorktreeStatus[] = LIVE_WORKTREE_STATUSES): WorktreeRow[] {
    const placeholders = statuses.map(() => "?").join(", ");
    return statement<unknown[], WorktreeRow>(
      this.db,
      `SELECT * FROM git_worktree_tracker WHERE status IN (${placeholders}) ORDER BY task_id, id`,
    ).all(...statuses);
  }
}
