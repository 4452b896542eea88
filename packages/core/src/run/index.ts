import { hostname } from "node:os";
import { type DeadlockReport, findDeadlocks } from "../agents/deadlock.js";
import { checkHealth, classifyAgent, type Health } from "../agents/health.js";
import { killAgent } from "../agents/kill.js";
import {
  type ActivityReport,
  activityReport,
  countTasks,
  type TaskCounts,
} from "../agents/report.js";
import { spawnAgent } from "../agents/spawn.js";
import { assign } from "../assign/index.js";
import { agentPolicy } from "../config.js";
import type { Orchestrator } from "../context.js";
import { invalidInput, OrchestratorError } from "../errors.js";
import { importPlan, type Plan, retryTask } from "../tasks/index.js";
import { cleanupWorktrees, mergeWorktree, setAsideBranch } from "../worktrees/index.js";
import { holdLock } from "../worktrees/lock.js";

export const RUN_LOCK = "run";
/** How long a run on another host is trusted without renewing its lease. */
const RUN_LEASE_MS = 60_000;

export interface RunOptions {
  plan?: Plan;
  maxParallel: number;
  /** Pause between rounds when nothing changed. */
  pollMs: number;
  /** How to start an agent's supervisor (see spawnAgent). */
  supervisorCommand: readonly string[];
  /** Aborted by Ctrl-C: agents are stopped gracefully, worktrees and branches stay. */
  signal?: AbortSignal;
  onEvent?: (event: RunEvent) => void;
  /** Called after every round with what stands now, for a live view. */
  onProgress?: (progress: RunProgress) => void;
}

export type RunEventKind =
  | "started"
  | "imported"
  | "spawned"
  | "merged"
  | "conflict"
  | "set_aside"
  | "cleaned"
  | "kept"
  | "restarted"
  | "restart_scheduled"
  | "gave_up"
  | "stalled"
  | "failed"
  | "stopping"
  | "stopped";

export interface RunEvent {
  at: number;
  kind: RunEventKind;
  task_id?: string;
  agent_id?: string;
  message: string;
}

export interface RunningAgent {
  agent_id: string;
  task_id: string | null;
  elapsed_ms: number;
  health: Health;
}

export interface RunProgress {
  elapsed_ms: number;
  tasks: TaskCounts;
  agents: RunningAgent[];
}

export type RunOutcome = "completed" | "stuck" | "interrupted";

export interface RunResult {
  outcome: RunOutcome;
  started_at: number;
  wall_ms: number;
  /** Sum of the times of the tasks finished during this run. */
  work_ms: number;
  /** work_ms / wall_ms: how much the parallel agents gained over one after another. */
  speedup: number;
  tasks: TaskCounts;
  /** When stuck: what holds the rest back, and what to do. */
  deadlocks: DeadlockReport | null;
  report: ActivityReport;
}

/**
 * The whole parallel workflow on one machine: assign → worktree → agent → health → merge →
 * clean up → assign what that unblocked, until every task is completed or nothing can move.
 * Every step is the one-shot commands' own code, so the database tells the same story.
 */
export async function runWorkflow(o: Orchestrator, options: RunOptions): Promise<RunResult> {
  const lock = holdLock(o, RUN_LOCK, RUN_LEASE_MS);
  if ("holder" in lock) {
    const h = lock.holder;
    throw new OrchestratorError(
      "SingletonViolation",
      `another orchestrator run (pid ${h.pid} on ${h.host}) has been running on this database since ${new Date(h.acquired_at).toISOString()}; stop it first (Ctrl-C), or wait for it to finish`,
      { holder_pid: h.pid, holder_host: h.host, this_host: hostname() },
    );
  }
  const startedAt = o.now();
  const emit = (event: Omit<RunEvent, "at">) => options.onEvent?.({ at: o.now(), ...event });
  try {
    requireConfiguredAgentTypes(o, options.plan);
    o.write(() => o.record({ kind: "run_started", detail: { max_parallel: options.maxParallel } }));
    if (options.plan) {
      const r = importPlan(o, options.plan);
      emit({
        kind: "imported",
        message: `plan: ${r.imported} new, ${r.updated} updated, ${r.unchanged} unchanged`,
      });
    }
    emit({ kind: "started", message: `running with up to ${options.maxParallel} agents` });
    await cleanFinished(o, emit);
    const outcome = await loop(o, options, emit, lock.held.renew);
    if (outcome === "completed") await cleanFinished(o, emit);
    if (outcome === "interrupted") await stopAgents(o, emit);
    const tasks = countTasks(o);
    const report = activityReport(o, startedAt);
    const wallMs = Math.max(1, o.now() - startedAt);
    o.write(() =>
      o.record({
        kind: "run_ended",
        detail: { outcome, wall_ms: wallMs, work_ms: report.work_ms },
      }),
    );
    return {
      outcome,
      started_at: startedAt,
      wall_ms: wallMs,
      work_ms: report.work_ms,
      speedup: Math.round((report.work_ms / wallMs) * 100) / 100,
      tasks,
      deadlocks: outcome === "stuck" ? findDeadlocks(o) : null,
      report,
    };
  } finally {
    lock.held.release();
  }
}

type Emit = (event: Omit<RunEvent, "at">) => void;

async function loop(
  o: Orchestrator,
  options: RunOptions,
  emit: Emit,
  renew: () => boolean,
): Promise<RunOutcome> {
  const startedAt = o.now();
  for (;;) {
    if (options.signal?.aborted) return "interrupted";
    if (!renew()) {
      throw new OrchestratorError(
        "SingletonViolation",
        "this run's lock was taken over by another orchestrator run (its lease ran out); stopping",
        {},
      );
    }
    const moved = await round(o, options, emit);
    const tasks = countTasks(o);
    options.onProgress?.({
      elapsed_ms: o.now() - startedAt,
      tasks,
      agents: runningAgents(o),
    });
    if (tasks.total > 0 && tasks.completed + tasks.cancelled === tasks.total) return "completed";
    if (!moved && isStuck(o, tasks)) return "stuck";
    if (!moved) await pause(options.pollMs, options.signal);
  }
}

/** One pass over everything that can move; returns whether anything did. */
async function round(o: Orchestrator, options: RunOptions, emit: Emit): Promise<boolean> {
  let moved = await mergeReviewed(o, emit);
  moved = (await superviseAgents(o, options, emit)) || moved;
  if (options.signal?.aborted) return moved;
  const assigned = assign(o, { maxParallel: options.maxParallel });
  moved = assigned.tasks_assigned > 0 || moved;
  moved = (await startAgents(o, options, emit)) || moved;
  return moved;
}

/** Tasks whose agent finished with commits: merge, then clean up; a conflict gets a new attempt. */
async function mergeReviewed(o: Orchestrator, emit: Emit): Promise<boolean> {
  const reviewed = o.tasks.withStatus(["review"]);
  for (const task of reviewed) {
    const merge = await mergeWorktree(o, task.task_id);
    if (merge.status === "merged") {
      emit({
        kind: "merged",
        task_id: task.task_id,
        message: `merged ${task.task_id} (${merge.merge_commit?.slice(0, 10)})`,
      });
      const cleaned = await cleanupWorktrees(o, { taskId: task.task_id });
      for (const kept of cleaned.kept)
        emit({ kind: "kept", task_id: kept.task_id, message: `kept: ${kept.reason}` });
      if (cleaned.removed.length > 0)
        emit({ kind: "cleaned", task_id: task.task_id, message: "worktree and branch removed" });
    } else {
      emit({
        kind: "conflict",
        task_id: task.task_id,
        message: `conflict merging ${task.task_id}: ${merge.conflicts.join(", ")}`,
      });
      await retryConflicted(o, task.task_id, emit);
    }
  }
  for (const task of o.tasks.withStatus(["conflict"])) await retryConflicted(o, task.task_id, emit);
  return reviewed.length > 0;
}

/**
 * Worktrees of tasks already completed or cancelled: left by a run stopped (or killed) between
 * a merge and its clean-up. Merged work only; unmerged commits are kept and reported.
 */
async function cleanFinished(o: Orchestrator, emit: Emit): Promise<void> {
  for (const row of o.worktrees.list(["active", "merged", "conflict"])) {
    const task = o.tasks.get(row.task_id);
    if (task?.status !== "completed" && task?.status !== "cancelled") continue;
    const cleaned = await cleanupWorktrees(o, { taskId: row.task_id });
    for (const kept of cleaned.kept)
      emit({ kind: "kept", task_id: kept.task_id, message: `kept: ${kept.reason}` });
    if (cleaned.removed.length > 0)
      emit({
        kind: "cleaned",
        task_id: row.task_id,
        message: `worktree and branch of the finished task removed`,
      });
  }
}

/** A conflicted task starts again from the integration branch as it is now; its old commits are kept. */
async function retryConflicted(o: Orchestrator, taskId: string, emit: Emit): Promise<void> {
  const aside = await setAsideBranch(o, taskId);
  retryTask(o, taskId);
  emit({
    kind: "set_aside",
    task_id: taskId,
    message: `new attempt from the integration branch${aside.kept_ref ? `; the conflicted commits are kept at ${aside.kept_ref}` : ""}`,
  });
}

/** Health: stalled agents are killed, dead and failed ones restarted with backoff. */
async function superviseAgents(o: Orchestrator, options: RunOptions, emit: Emit): Promise<boolean> {
  const health = await checkHealth(o, {
    autoRestart: true,
    supervisorCommand: options.supervisorCommand,
  });
  let moved = false;
  for (const a of health.agents.filter((x) => x.health === "stalled")) {
    emit({ kind: "stalled", agent_id: a.agent_id, message: `stalled: ${a.reasons.join("; ")}` });
  }
  for (const r of health.restarts) {
    const at = { ...(r.task_id ? { task_id: r.task_id } : {}), agent_id: r.agent_id };
    if (r.action === "restarted") {
      moved = true;
      emit({
        kind: "restarted",
        ...at,
        message: `restarted as ${r.new_agent_id} (attempt ${r.attempt}; ${r.reason})`,
      });
    } else if (r.action === "gave_up") {
      moved = true;
      emit({ kind: "gave_up", ...at, message: `not restarted: ${r.reason}` });
    } else if (r.action === "start_failed") {
      emit({ kind: "restart_scheduled", ...at, message: `restart postponed: ${r.reason}` });
    }
  }
  return moved;
}

/**
 * Every assigned task without a live agent gets one (new assignments, and those of a stopped
 * run), as far as its agent type's max_instances allows (two ready tasks of a singleton type
 * run one after the other). A task whose failed agent is due a restart is left to the restart
 * (superviseAgents), with its backoff. The agents start concurrently: each start waits for a
 * supervisor process to come up; one that cannot start is reported and tried again next round.
 */
async function startAgents(o: Orchestrator, options: RunOptions, emit: Emit): Promise<boolean> {
  if (options.signal?.aborted) return false;
  const restarting = new Set(o.agents.restartable().map((a) => a.task_id));
  const free = new Map<string, number>();
  const waiting = o.tasks.withStatus(["assigned"]).filter((task) => {
    if (restarting.has(task.task_id) || o.agents.liveOnTask(task.task_id)) return false;
    const slots =
      free.get(task.agent_type) ??
      agentPolicy(o.config, task.agent_type).maxInstances - o.agents.live(task.agent_type).length;
    free.set(task.agent_type, slots - 1);
    return slots > 0;
  });
  if (waiting.length === 0) return false;
  const started = await Promise.allSettled(
    waiting.map((task) =>
      spawnAgent(o, {
        agentType: task.agent_type,
        taskId: task.task_id,
        supervisorCommand: options.supervisorCommand,
      }),
    ),
  );
  let moved = false;
  started.forEach((outcome, i) => {
    const task = waiting[i]!;
    if (outcome.status === "rejected") {
      emit({
        kind: "failed",
        task_id: task.task_id,
        message: `could not start an agent on ${task.task_id}, trying again: ${(outcome.reason as Error).message}`,
      });
      return;
    }
    moved = true;
    const spawned = outcome.value;
    emit({
      kind: "spawned",
      task_id: spawned.task_id!,
      agent_id: spawned.agent_id,
      message: `${spawned.agent_id} started on ${spawned.task_id} (pid ${spawned.pid})`,
    });
  });
  return moved;
}

/** Nothing runs, nothing is due to restart, nothing awaits a merge and nothing can be assigned. */
function isStuck(o: Orchestrator, tasks: TaskCounts): boolean {
  if (tasks.running > 0 || tasks.review > 0 || tasks.ready > 0 || tasks.conflict > 0) return false;
  if (o.agents.live().length > 0) return false;
  return o.agents.restartable().length === 0;
}

function runningAgents(o: Orchestrator): RunningAgent[] {
  const now = o.now();
  return o.agents.live().map((a) => ({
    agent_id: a.agent_id,
    task_id: a.task_id,
    elapsed_ms: now - a.started_at,
    health: classifyAgent(a, o.config, now).health,
  }));
}

/** Refuses to start (before the plan is imported) when tasks need an agent type the config lacks. */
function requireConfiguredAgentTypes(o: Orchestrator, plan: Plan | undefined): void {
  const unfinished = [
    ...o.tasks.withStatus(["pending", "assigned", "in_progress", "review", "failed", "conflict"]),
    ...(plan?.tasks ?? []).map((t) => ({
      task_id: t.id,
      agent_type: t.agent_type ?? o.config.default_agent_type,
    })),
  ];
  const missing = [...new Set(unfinished.map((t) => t.agent_type))].filter(
    (type) => !o.config.agents[type],
  );
  if (missing.length === 0) return;
  const tasks = unfinished.filter((t) => missing.includes(t.agent_type)).map((t) => t.task_id);
  throw invalidInput(
    `tasks need agent type${missing.length > 1 ? "s" : ""} ${missing.join(", ")}, which ${o.paths.configPath} does not configure; add ${missing.length > 1 ? "them" : "it"} under \`agents:\` with a command`,
    { missing_agent_types: missing, tasks: [...new Set(tasks)].slice(0, 20) },
  );
}

/** Ctrl-C: every live agent is stopped (SIGTERM, then SIGKILL after the grace); its task stays assigned. */
async function stopAgents(o: Orchestrator, emit: Emit): Promise<void> {
  const live = o.agents.live();
  emit({
    kind: "stopping",
    message: `stopping ${live.length} agent(s); worktrees and branches stay`,
  });
  await Promise.all(
    live.map((a) => killAgent(o, a.agent_id, { reason: "the run was interrupted" })),
  );
  emit({ kind: "stopped", message: "stopped; run again to resume where it left off" });
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
