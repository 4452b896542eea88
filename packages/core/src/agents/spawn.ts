import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { AgentRow, TaskRow } from "@orchestrator/db";
import { agentPolicy } from "../config.js";
import type { Orchestrator } from "../context.js";
import { invalidInput, OrchestratorError } from "../errors.js";
import { requireValidIds } from "../ids.js";
import { requireTask } from "../tasks/index.js";
import { createWorktree } from "../worktrees/index.js";
import { isSameProcess, sampleProcess } from "./process.js";

export interface SpawnOptions {
  agentType: string;
  taskId?: string;
  /** The agent this one replaces (a restart). */
  restartOf?: string;
  /** How to start a supervisor: argv before `--agent-id <id>` (e.g. node, the CLI, "agents", "supervise"). */
  supervisorCommand: readonly string[];
}

export interface SpawnResult {
  agent_id: string;
  agent_type: string;
  pid: number;
  task_id: string | null;
  worktree_path: string | null;
  log_path: string;
}

/** A `starting` row whose supervisor never reported back within this time is dead. */
const START_TIMEOUT_MS = 30_000;
const TASK_STATUSES_FOR_AGENT: readonly string[] = ["assigned", "in_progress", "failed"];

export function newAgentId(agentType: string): string {
  return `${agentType.slice(0, 48)}-${randomBytes(4).toString("hex")}`;
}

export function requireAgent(o: Orchestrator, agentId: string): AgentRow {
  requireValidIds("agent id", [agentId]);
  const row = o.agents.get(agentId);
  if (!row) {
    throw new OrchestratorError(
      "AgentNotFound",
      `unknown agent id ${JSON.stringify(agentId)}; run \`orchestrator agents list --all\` to see the agents`,
      { agent_id: agentId },
    );
  }
  return row;
}

/**
 * Starts an agent of a configured type, detached, under a supervisor process, and returns as
 * soon as the agent process runs. Singleton and max_instances limits hold under concurrent
 * spawns: the slot is claimed in one IMMEDIATE transaction, with SQLite's unique indexes as
 * the backstop.
 */
export async function spawnAgent(o: Orchestrator, options: SpawnOptions): Promise<SpawnResult> {
  const { agentType } = options;
  requireValidIds("agent type", [agentType]);
  const policy = agentPolicy(o.config, agentType);
  if (!policy.configured) {
    const known = Object.keys(o.config.agents);
    throw invalidInput(
      `agent type ${JSON.stringify(agentType)} is not configured; ${known.length ? `configured types: ${known.join(", ")}` : `add it under \`agents:\` in ${o.paths.configPath}`}`,
      { agent_type: agentType, configured: known },
    );
  }
  const task =
    options.taskId === undefined ? undefined : requireTaskForAgent(o, options.taskId, agentType);
  const worktree = task ? await workdirFor(o, task) : null;
  const agentId = newAgentId(agentType);
  const logPath = join(dirname(o.paths.dbPath), "logs", `${agentId}.log`);

  o.write(() => {
    reapVanished(o, o.agents.live(agentType));
    if (task)
      reapVanished(
        o,
        [o.agents.liveOnTask(task.task_id)].filter((a) => a !== undefined),
      );
    const live = o.agents.live(agentType);
    if (live.length >= policy.maxInstances) {
      throw new OrchestratorError(
        "SingletonViolation",
        policy.singleton
          ? `agent type ${agentType} is a singleton (CFR-000) and ${live[0]!.agent_id} is already running; kill it first or wait for it to finish`
          : `agent type ${agentType} already runs ${live.length} of its max_instances ${policy.maxInstances}; wait for one to finish`,
        {
          agent_type: agentType,
          running: live.map((a) => a.agent_id),
          max_instances: policy.maxInstances,
        },
      );
    }
    if (task) {
      const onTask = o.agents.liveOnTask(task.task_id);
      if (onTask) {
        throw new OrchestratorError(
          "SingletonViolation",
          `task ${task.task_id} already has a live agent (${onTask.agent_id}); never two on one task`,
          { task_id: task.task_id, agent_id: onTask.agent_id },
        );
      }
    }
    o.agents.insert(
      {
        agent_id: agentId,
        agent_type: agentType,
        singleton: policy.singleton,
        task_id: task?.task_id ?? null,
        worktree_path: worktree,
        log_path: logPath,
        restart_of: options.restartOf ?? null,
        spawner_pid: process.pid,
        spawner_start_time: sampleProcess(process.pid)?.startTime ?? null,
      },
      o.now(),
    );
    o.record({
      kind: "agent_spawned",
      agent_id: agentId,
      task_id: task?.task_id ?? null,
      detail: { agent_type: agentType },
    });
  });

  launchSupervisor(o, agentId, logPath, options.supervisorCommand);
  const running = await waitUntilRunning(o, agentId);
  return {
    agent_id: agentId,
    agent_type: agentType,
    pid: running.pid!,
    task_id: running.task_id,
    worktree_path: running.worktree_path,
    log_path: logPath,
  };
}

function requireTaskForAgent(o: Orchestrator, taskId: string, agentType: string): TaskRow {
  const task = requireTask(o, taskId);
  if (!TASK_STATUSES_FOR_AGENT.includes(task.status)) {
    throw invalidInput(
      `task ${taskId} is ${task.status}; an agent works only on an assigned task (run \`orchestrator assign\` first)`,
      { task_id: taskId, status: task.status },
    );
  }
  if (task.agent_type !== agentType) {
    throw invalidInput(`task ${taskId} is for agent type ${task.agent_type}, not ${agentType}`, {
      task_id: taskId,
      task_agent_type: task.agent_type,
      agent_type: agentType,
    });
  }
  return task;
}

/**
 * The directory an agent on this task works in: the task's worktree, created (on branch
 * `roadmap-implementation_task-{id}`) when the task has none yet.
 */
async function workdirFor(o: Orchestrator, task: TaskRow): Promise<string> {
  return (await createWorktree(o, task.task_id, { reuse: true })).worktree_path;
}

/**
 * Ends live rows whose processes are gone (a supervisor killed with SIGKILL, a machine
 * restart), so they no longer hold a singleton slot. Call inside a write transaction.
 */
export function reapVanished(o: Orchestrator, rows: readonly AgentRow[]): AgentRow[] {
  const now = o.now();
  const reaped: AgentRow[] = [];
  for (const row of rows) {
    if (!hasVanished(row, now)) continue;
    if (
      o.agents.end(
        row.agent_id,
        { status: "failed", end_reason: "vanished: its process is gone" },
        now,
      )
    ) {
      if (row.task_id) releaseTask(o, row.task_id, row.agent_id);
      o.record({ kind: "agent_vanished", agent_id: row.agent_id, task_id: row.task_id });
      reaped.push(row);
    }
  }
  return reaped;
}

/** Whether a live row's agent process (or, while starting, its supervisor) still exists. */
export function isAgentAlive(row: AgentRow, now: number): boolean {
  if (row.status === "running") return isSameProcess(row.pid, row.pid_start_time);
  if (row.status !== "starting") return false;
  if (row.supervisor_pid !== null)
    return isSameProcess(row.supervisor_pid, row.supervisor_start_time);
  // No supervisor yet: its spawner is about to start one, unless the spawner is dead.
  if (row.spawner_pid !== null && row.spawner_start_time !== null)
    return isSameProcess(row.spawner_pid, row.spawner_start_time);
  return now - row.started_at < START_TIMEOUT_MS;
}

/**
 * Whether a live row has vanished: its agent and its supervisor are both gone. An agent that
 * just exited has not vanished while its supervisor lives: the supervisor is about to record
 * the exit (and whether the work was committed), and must not be raced to it.
 */
function hasVanished(row: AgentRow, now: number): boolean {
  if (isAgentAlive(row, now)) return false;
  return !(
    row.supervisor_pid !== null && isSameProcess(row.supervisor_pid, row.supervisor_start_time)
  );
}

/** The task goes back to `assigned` with no agent, ready for a new one. */
export function releaseTask(o: Orchestrator, taskId: string, agentId: string): void {
  const active = o.assignments.active(taskId);
  if (active?.agent_id !== agentId) return;
  const now = o.now();
  o.tasks.transition(taskId, ["in_progress"], "assigned", now);
  o.assignments.setActiveStatus(taskId, "assigned", now);
  o.assignments.updateActive(taskId, { agent_id: null }, now);
}

function launchSupervisor(
  o: Orchestrator,
  agentId: string,
  logPath: string,
  command: readonly string[],
): void {
  mkdirSync(dirname(logPath), { recursive: true });
  const log = openSync(logPath, "a");
  try {
    const args = [
      ...command.slice(1),
      "--agent-id",
      agentId,
      "--db",
      o.paths.dbPath,
      "--repo",
      o.paths.repoRoot,
    ];
    if (existsSync(o.paths.configPath)) args.push("--config", o.paths.configPath);
    const child = spawn(command[0]!, args, {
      detached: true,
      stdio: ["ignore", log, log],
      cwd: o.paths.repoRoot,
      env: process.env,
    });
    child.unref();
    const sample = child.pid === undefined ? undefined : sampleProcess(child.pid);
    if (child.pid !== undefined && sample) {
      const pid = child.pid;
      o.write(() => o.agents.setSupervisor(agentId, pid, sample.startTime, o.now()));
    }
  } finally {
    closeSync(log);
  }
}

async function waitUntilRunning(o: Orchestrator, agentId: string): Promise<AgentRow> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const row = o.agents.get(agentId)!;
    if (row.pid !== null) return row; // started (it may already have finished)
    if (row.status !== "starting") {
      throw invalidInput(
        `agent ${agentId} did not start: ${row.end_reason ?? row.status}; see its log ${row.log_path}`,
        {
          agent_id: agentId,
          log_path: row.log_path,
        },
      );
    }
    if (
      row.supervisor_pid !== null &&
      !isSameProcess(row.supervisor_pid, row.supervisor_start_time) &&
      o.agents.get(agentId)!.pid === null
    ) {
      const reason = `its supervisor (pid ${row.supervisor_pid}) died before starting it`;
      o.write(() => {
        if (o.agents.end(agentId, { status: "failed", end_reason: reason }, o.now()))
          o.record({
            kind: "agent_failed",
            agent_id: agentId,
            task_id: row.task_id,
            detail: { reason },
          });
      });
      throw invalidInput(
        `agent ${agentId} did not start: ${reason}; see its log ${row.log_path}, then run \`orchestrator agents health --auto-restart\` (or \`orchestrator run\`) to start it again`,
        { agent_id: agentId, supervisor_pid: row.supervisor_pid, log_path: row.log_path },
      );
    }
    if (Date.now() > deadline) {
      throw invalidInput(
        `agent ${agentId} did not start within ${START_TIMEOUT_MS / 1000}s; see its log ${row.log_path}`,
        {
          agent_id: agentId,
          log_path: row.log_path,
        },
      );
    }
    await sleep(15);
  }
}
