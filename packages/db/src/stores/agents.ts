import type { Db } from "../connection.js";
import { statement } from "../statements.js";

export type AgentStatus = "starting" | "running" | "exited" | "failed" | "killed";
export const LIVE_AGENT_STATUSES: readonly AgentStatus[] = ["starting", "running"];

export interface AgentRow {
  id: number;
  agent_id: string;
  agent_type: string;
  singleton: 0 | 1;
  status: AgentStatus;
  pid: number | null;
  pid_start_time: string | null;
  supervisor_pid: number | null;
  supervisor_start_time: string | null;
  /** The process that inserted the row (schema 2): while it starts the supervisor, the row is its. */
  spawner_pid: number | null;
  spawner_start_time: string | null;
  task_id: string | null;
  worktree_path: string | null;
  log_path: string | null;
  started_at: number;
  last_heartbeat: number | null;
  activity: string | null;
  waiting_on: string | null;
  cpu_percent: number | null;
  cpu_ticks: number | null;
  memory_bytes: number | null;
  sampled_at: number | null;
  exit_code: number | null;
  exit_signal: string | null;
  end_reason: string | null;
  ended_at: number | null;
  restart_of: string | null;
  restart_state: "restarted" | "gave_up" | null;
  updated_at: number;
}

export interface NewAgent {
  agent_id: string;
  agent_type: string;
  singleton: boolean;
  task_id: string | null;
  worktree_path: string | null;
  log_path: string;
  restart_of: string | null;
  /** The process inserting the row, with its start time (a pid is only trusted with it). */
  spawner_pid?: number | null;
  spawner_start_time?: string | null;
}

export interface AgentEnd {
  status: Exclude<AgentStatus, "starting" | "running">;
  exit_code?: number | null;
  exit_signal?: string | null;
  end_reason: string;
}

export interface RestartLogRow {
  id: number;
  agent_id: string;
  agent_type: string;
  task_id: string | null;
  new_agent_id: string | null;
  reason: string;
  attempt_number: number;
  delay_ms: number;
  due_at: number;
  created_at: number;
}

const LIVE = "status IN ('starting','running')";

/** agent_lifecycle and agent_restart_log: agent incarnations and their restarts. */
export class AgentStore {
  constructor(private readonly db: Db) {}

  get(agentId: string): AgentRow | undefined {
    return statement<[string], AgentRow>(
      this.db,
      "SELECT * FROM agent_lifecycle WHERE agent_id = ?",
    ).get(agentId);
  }

  /** Inserts a `starting` row; the unique indexes refuse a second live singleton or a second agent on a task. */
  insert(agent: NewAgent, now: number): void {
    statement(
      this.db,
      `INSERT INTO agent_lifecycle (agent_id, agent_type, singleton, status, task_id, worktree_path, log_path,
                                    started_at, last_heartbeat, restart_of, spawner_pid, spawner_start_time, updated_at)
       VALUES (?, ?, ?, 'starting', ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      agent.agent_id,
      agent.agent_type,
      agent.singleton ? 1 : 0,
      agent.task_id,
      agent.worktree_path,
      agent.log_path,
      now,
      now,
      agent.restart_of,
      agent.spawner_pid ?? null,
      agent.spawner_start_time ?? null,
      now,
    );
  }

  /** Whether any incarnation, live or ended, was of this type. */
  typeSeen(agentType: string): boolean {
    return (
      statement<[string], { found: number }>(
        this.db,
        "SELECT EXISTS (SELECT 1 FROM agent_lifecycle WHERE agent_type = ?) AS found",
      ).get(agentType)?.found === 1
    );
  }

  live(agentType?: string): AgentRow[] {
    if (agentType === undefined) {
      return statement<[], AgentRow>(
        this.db,
        `SELECT * FROM agent_lifecycle WHERE ${LIVE} ORDER BY started_at, id`,
      ).all();
    }
    return statement<[string], AgentRow>(
      this.db,
      `SELECT * FROM agent_lifecycle WHERE agent_type = ? AND ${LIVE} ORDER BY started_at, id`,
    ).all(agentType);
  }

  liveOnTask(taskId: string): AgentRow | undefined {
    return statement<[string], AgentRow>(
      this.db,
      `SELECT * FROM agent_lifecycle WHERE task_id = ? AND ${LIVE}`,
    ).get(taskId);
  }

  list(options: { agentType?: string; all?: boolean } = {}): AgentRow[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (!options.all) where.push(LIVE);
    if (options.agentType !== undefined) {
      where.push("agent_type = ?");
      params.push(options.agentType);
    }
    const clause = where.length ? `WHERE ${where.join(" AND ")}` : "";
    return statement<unknown[], AgentRow>(
      this.db,
      `SELECT * FROM agent_lifecycle ${clause} ORDER BY started_at, id`,
    ).all(...params);
  }

  setSupervisor(agentId: string, pid: number, startTime: string, now: number): void {
    statement(
      this.db,
      "UPDATE agent_lifecycle SET supervisor_pid = ?, supervisor_start_time = ?, updated_at = ? WHERE agent_id = ?",
    ).run(pid, startTime, now, agentId);
  }

  /** starting → running with the agent's pid; false when the row was ended meanwhile (killed). */
  markRunning(agentId: string, pid: number, startTime: string, now: number): boolean {
    return (
      statement(
        this.db,
        `UPDATE agent_lifecycle SET status = 'running', pid = ?, pid_start_time = ?, updated_at = ?
          WHERE agent_id = ? AND status = 'starting'`,
      ).run(pid, startTime, now, agentId).changes === 1
    );
  }

  heartbeat(
    agentId: string,
    now: number,
    activity: string | null,
    waitingOn: string | null,
  ): boolean {
    return (
      statement(
        this.db,
        `UPDATE agent_lifecycle SET last_heartbeat = ?, activity = coalesce(?, activity), waiting_on = ?, updated_at = ?
          WHERE agent_id = ? AND ${LIVE}`,
      ).run(now, activity, waitingOn, now, agentId).changes === 1
    );
  }

  recordSample(
    agentId: string,
    sample: {
      cpu_percent: number | null;
      cpu_ticks: number;
      memory_bytes: number;
      heartbeat: boolean;
    },
    now: number,
  ): void {
    statement(
      this.db,
      `UPDATE agent_lifecycle SET cpu_percent = ?, cpu_ticks = ?, memory_bytes = ?, sampled_at = ?,
              last_heartbeat = CASE WHEN ? THEN ? ELSE last_heartbeat END, updated_at = ?
        WHERE agent_id = ? AND ${LIVE}`,
    ).run(
      sample.cpu_percent,
      sample.cpu_ticks,
      sample.memory_bytes,
      now,
      sample.heartbeat ? 1 : 0,
      now,
      now,
      agentId,
    );
  }

  /** Ends a live agent; false when it had already ended (the first ending wins). */
  end(agentId: string, end: AgentEnd, now: number): boolean {
    return (
      statement(
        this.db,
        `UPDATE agent_lifecycle SET status = ?, exit_code = ?, exit_signal = ?, end_reason = ?, ended_at = ?, updated_at = ?
          WHERE agent_id = ? AND ${LIVE}`,
      ).run(
        end.status,
        end.exit_code ?? null,
        end.exit_signal ?? null,
        end.end_reason,
        now,
        now,
        agentId,
      ).changes === 1
    );
  }

  /** null: due a restart again (a claimed restart whose start failed). */
  setRestartState(agentId: string, state: "restarted" | "gave_up" | null, now: number): void {
    statement(
      this.db,
      "UPDATE agent_lifecycle SET restart_state = ?, updated_at = ? WHERE agent_id = ?",
    ).run(state, now, agentId);
  }

  /** Failed (crashed, exited non-zero, vanished or stalled) and not yet restarted or given up on. */
  restartable(): AgentRow[] {
    return statement<[], AgentRow>(
      this.db,
      `SELECT * FROM agent_lifecycle INDEXED BY agent_lifecycle_restartable
        WHERE status = 'failed' AND restart_state IS NULL ORDER BY ended_at`,
    ).all();
  }

  /**
   * Failed tasks whose agent is still due a restart: they hold a --max-parallel slot, since the
   * restart puts them back to work without a new assignment.
   */
  failedTasksAwaitingRestart(): number {
    return statement<[], { n: number }>(
      this.db,
      `SELECT count(DISTINCT t.task_id) AS n
         FROM agent_lifecycle a INDEXED BY agent_lifecycle_restartable
         JOIN specs_task t ON t.task_id = a.task_id
        WHERE a.status = 'failed' AND a.restart_state IS NULL AND t.status = 'failed'`,
    ).get()!.n;
  }

  logRestart(row: Omit<RestartLogRow, "id">): void {
    statement(
      this.db,
      `INSERT INTO agent_restart_log (agent_id, agent_type, task_id, new_agent_id, reason, attempt_number, delay_ms, due_at, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      row.agent_id,
      row.agent_type,
      row.task_id,
      row.new_agent_id,
      row.reason,
      row.attempt_number,
      row.delay_ms,
      row.due_at,
      row.created_at,
    );
  }

  /** Restarts of one lineage (agent type on a task, or on no task) since a time, newest first. */
  restartsSince(agentType: string, taskId: string | null, since: number): RestartLogRow[] {
    return statement<[string, string | null, number], RestartLogRow>(
      this.db,
      `SELECT * FROM agent_restart_log WHERE agent_type = ? AND task_id IS ? AND created_at >= ?
        ORDER BY created_at DESC, id DESC`,
    ).all(agentType, taskId, since);
  }

  /** The newest restart of one lineage, if any. */
  lastRestart(agentType: string, taskId: string | null): RestartLogRow | undefined {
    return statement<[string, string | null], RestartLogRow>(
      this.db,
      `SELECT * FROM agent_restart_log WHERE agent_type = ? AND task_id IS ? ORDER BY created_at DESC, id DESC LIMIT 1`,
    ).get(agentType, taskId);
  }
}
