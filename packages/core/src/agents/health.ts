import type { AgentRow } from "@orchestrator/db";
import { exponentialBackoff } from "../backoff.js";
import { agentPolicy, type Config } from "../config.js";
import type { Orchestrator } from "../context.js";
import { failTask } from "../tasks/index.js";
import { formatDuration } from "../units.js";
import { killAgent } from "./kill.js";
import { cpuPercent, sampleProcess } from "./process.js";
import { isAgentAlive, reapVanished, spawnAgent } from "./spawn.js";

export type Health = "healthy" | "warning" | "stalled" | "critical" | "dead";

export interface AgentHealth {
  agent_id: string;
  agent_type: string;
  status: string;
  task_id: string | null;
  pid: number | null;
  health: Health;
  reasons: string[];
  heartbeat_age_ms: number | null;
  cpu_percent: number | null;
  memory_bytes: number | null;
  uptime_ms: number;
}

/**
 * Classifies one agent row from its process and its heartbeat: dead (process gone, or a pid
 * now owned by another process), stalled (no heartbeat past the stalled threshold), critical
 * (CPU or memory past the critical threshold), warning, or healthy.
 */
export function classifyAgent(row: AgentRow, config: Config, now: number): AgentHealth {
  const base = {
    agent_id: row.agent_id,
    agent_type: row.agent_type,
    status: row.status,
    task_id: row.task_id,
    pid: row.pid,
    heartbeat_age_ms: row.last_heartbeat === null ? null : now - row.last_heartbeat,
    uptime_ms: now - row.started_at,
  };
  const live = row.status === "starting" || row.status === "running";
  if (!live || !isAgentAlive(row, now)) {
    const reasons = live
      ? ["its process is gone (or the pid now belongs to another process)"]
      : [row.end_reason ?? row.status];
    return { ...base, health: "dead", reasons, cpu_percent: null, memory_bytes: null };
  }
  const sample = row.pid === null ? undefined : sampleProcess(row.pid);
  const cpu =
    sample && row.cpu_ticks !== null && row.sampled_at !== null && now - row.sampled_at >= 500
      ? cpuPercent(row.cpu_ticks, row.sampled_at, sample, now)
      : row.cpu_percent;
  const memory = sample?.rssBytes ?? row.memory_bytes;
  const { heartbeat, cpu: cpuLimits, memory: memoryLimits } = config.health;
  const age = base.heartbeat_age_ms ?? 0;
  const critical: string[] = [];
  const warning: string[] = [];
  if (cpu !== null && cpu > cpuLimits.critical)
    critical.push(`CPU ${cpu.toFixed(0)}% > ${cpuLimits.critical}%`);
  else if (cpu !== null && cpu >= cpuLimits.warning)
    warning.push(`CPU ${cpu.toFixed(0)}% ≥ ${cpuLimits.warning}%`);
  if (memory !== null && memory > memoryLimits.critical)
    critical.push(`memory ${mib(memory)} > ${mib(memoryLimits.critical)}`);
  else if (memory !== null && memory >= memoryLimits.warning)
    warning.push(`memory ${mib(memory)} ≥ ${mib(memoryLimits.warning)}`);
  const result = { ...base, cpu_percent: cpu, memory_bytes: memory };
  if (age > heartbeat.stalled) {
    return {
      ...result,
      health: "stalled",
      reasons: [
        `no heartbeat for ${formatDuration(age)} (stalled after ${formatDuration(heartbeat.stalled)})`,
        ...critical,
        ...warning,
      ],
    };
  }
  if (critical.length) return { ...result, health: "critical", reasons: [...critical, ...warning] };
  if (age >= heartbeat.warning) warning.unshift(`no heartbeat for ${formatDuration(age)}`);
  if (warning.length) return { ...result, health: "warning", reasons: warning };
  return { ...result, health: "healthy", reasons: [] };
}

const mib = (bytes: number) => `${Math.round(bytes / 1024 / 1024)} MiB`;

export interface RestartDecision {
  agent_id: string;
  agent_type: string;
  task_id: string | null;
  /** start_failed: the restart was due but its agent could not start (e.g. its type is at max_instances); retried later. */
  action: "restarted" | "scheduled" | "gave_up" | "not_needed" | "start_failed";
  attempt: number;
  delay_ms: number;
  due_at: number;
  new_agent_id?: string;
  reason: string;
}

export interface HealthResult {
  agents: AgentHealth[];
  counts: Record<Health, number>;
  /** Extra live instances of a singleton type that were killed (the oldest is kept). */
  duplicates_killed: string[];
  restarts: RestartDecision[];
}

export interface HealthOptions {
  autoRestart?: boolean;
  supervisorCommand: readonly string[];
}

/** `agents health`: classify every live agent; with autoRestart, restart dead and stalled ones. */
export async function checkHealth(o: Orchestrator, options: HealthOptions): Promise<HealthResult> {
  const now = o.now();
  const live = o.agents.live();
  const agents = live.map((row) => classifyAgent(row, o.config, now));
  const duplicatesKilled = await killSingletonDuplicates(o, live);
  const restarts: RestartDecision[] = [];
  if (options.autoRestart) {
    o.write(() => reapVanished(o, o.agents.live()));
    for (const a of agents.filter((x) => x.health === "stalled")) {
      await killAgent(o, a.agent_id, { status: "failed", reason: `stalled: ${a.reasons[0]}` });
    }
    for (const row of o.agents.restartable())
      restarts.push(await restartIfDue(o, row, options.supervisorCommand));
  }
  const counts: Record<Health, number> = {
    healthy: 0,
    warning: 0,
    stalled: 0,
    critical: 0,
    dead: 0,
  };
  for (const a of agents) counts[a.health]++;
  return { agents, counts, duplicates_killed: duplicatesKilled, restarts };
}

async function killSingletonDuplicates(
  o: Orchestrator,
  live: readonly AgentRow[],
): Promise<string[]> {
  const byType = new Map<string, AgentRow[]>();
  for (const row of live) {
    if (!row.singleton) continue;
    byType.set(row.agent_type, [...(byType.get(row.agent_type) ?? []), row]);
  }
  const killed: string[] = [];
  for (const rows of byType.values()) {
    for (const extra of rows.slice(1)) {
      await killAgent(o, extra.agent_id, {
        reason: `duplicate of singleton ${rows[0]!.agent_id} (CFR-000)`,
      });
      killed.push(extra.agent_id);
    }
  }
  return killed;
}

/** An agent's restart wait: base · factor^(attempt-1), capped at max (no jitter: one agent per lineage). */
export function restartDelay(config: Config, attempt: number): number {
  return exponentialBackoff(attempt, config.restart);
}

async function restartIfDue(
  o: Orchestrator,
  row: AgentRow,
  supervisorCommand: readonly string[],
): Promise<RestartDecision> {
  const now = o.now();
  const { restart } = o.config;
  const decision = { agent_id: row.agent_id, agent_type: row.agent_type, task_id: row.task_id };
  const task = row.task_id ? o.tasks.get(row.task_id) : undefined;
  const unwanted = !o.config.agents[row.agent_type]
    ? `agent type ${row.agent_type} is no longer configured`
    : task && !["assigned", "in_progress", "failed"].includes(task.status)
      ? `task ${task.task_id} is ${task.status}`
      : task && o.agents.liveOnTask(task.task_id)
        ? `task ${task.task_id} has another live agent`
        : undefined;
  if (unwanted) {
    o.write(() => o.agents.setRestartState(row.agent_id, "gave_up", now));
    return {
      ...decision,
      action: "not_needed",
      attempt: 0,
      delay_ms: 0,
      due_at: now,
      reason: unwanted,
    };
  }

  const recent = o.agents.restartsSince(
    row.agent_type,
    row.task_id,
    now - restart.crash_loop.within,
  );
  if (recent.length >= restart.crash_loop.restarts) {
    const reason = `crash loop: ${recent.length} restarts within ${formatDuration(restart.crash_loop.within)}`;
    o.write(() => giveUp(o, row, reason));
    return {
      ...decision,
      action: "gave_up",
      attempt: recent.length,
      delay_ms: 0,
      due_at: now,
      reason,
    };
  }

  const last = o.agents.lastRestart(row.agent_type, row.task_id);
  const ranStably = row.ended_at !== null && row.ended_at - row.started_at >= restart.reset_after;
  const attempt = ranStably || !last ? 1 : last.attempt_number + 1;
  const delay = restartDelay(o.config, attempt);
  const dueAt = (row.ended_at ?? now) + delay;
  const why = row.end_reason ?? "failed";
  const planned = (action: RestartDecision["action"], reason: string): RestartDecision => ({
    ...decision,
    action,
    attempt,
    delay_ms: delay,
    due_at: dueAt,
    reason,
  });
  if (now < dueAt) {
    return planned("scheduled", why);
  }
  const policy = agentPolicy(o.config, row.agent_type);
  const busy = o.agents.live(row.agent_type).length;
  if (busy >= policy.maxInstances) {
    return planned(
      "start_failed",
      `${why}; agent type ${row.agent_type} runs ${busy} of its max_instances ${policy.maxInstances}, so the restart waits for one to finish`,
    );
  }
  const claimed = o.write(() => {
    const current = o.agents.get(row.agent_id)!;
    if (current.restart_state !== null) return false; // another process restarted it
    o.agents.setRestartState(row.agent_id, "restarted", now);
    if (row.task_id) reopenForRestart(o, row.task_id);
    return true;
  });
  if (!claimed) return planned("not_needed", "restarted by another process");
  let spawned: Awaited<ReturnType<typeof spawnAgent>>;
  try {
    spawned = await spawnAgent(o, {
      agentType: row.agent_type,
      ...(row.task_id ? { taskId: row.task_id } : {}),
      restartOf: row.agent_id,
      supervisorCommand,
    });
  } catch (error) {
    // Not started (its type is at max_instances, the supervisor died, …): due again next time.
    o.write(() => o.agents.setRestartState(row.agent_id, null, o.now()));
    return planned(
      "start_failed",
      `${why}; the restart could not start: ${(error as Error).message}`,
    );
  }
  o.write(() => {
    o.agents.logRestart({
      agent_id: row.agent_id,
      agent_type: row.agent_type,
      task_id: row.task_id,
      new_agent_id: spawned.agent_id,
      reason: why,
      attempt_number: attempt,
      delay_ms: delay,
      due_at: dueAt,
      created_at: o.now(),
    });
    o.record({
      kind: "agent_restarted",
      agent_id: spawned.agent_id,
      task_id: row.task_id,
      detail: { previous: row.agent_id, attempt, delay_ms: delay, reason: why },
    });
  });
  return { ...planned("restarted", why), new_agent_id: spawned.agent_id };
}

/** A failed task gets a new attempt (an orchestrator_task row) for the restarted agent. */
export function reopenForRestart(o: Orchestrator, taskId: string): void {
  const now = o.now();
  const task = o.tasks.get(taskId)!;
  if (task.status !== "failed") return;
  const previous = o.assignments.latest(taskId);
  o.tasks.transition(taskId, ["failed"], "assigned", now);
  o.record({ kind: "task_reopened", task_id: taskId, detail: { from: "failed" } });
  o.assignments.insert(taskId, task.agent_type, now);
  if (previous) {
    o.assignments.updateActive(
      taskId,
      { worktree_path: previous.worktree_path, branch: previous.branch },
      now,
    );
  }
}

/** The crash-loop limit: no more restarts; the task fails and the agent type is told. */
function giveUp(o: Orchestrator, row: AgentRow, reason: string): void {
  const now = o.now();
  o.agents.setRestartState(row.agent_id, "gave_up", now);
  if (row.task_id) {
    const task = o.tasks.get(row.task_id);
    if (task && task.status !== "failed" && task.status !== "completed")
      failTask(o, row.task_id, reason);
    else if (task?.status === "failed")
      o.tasks.transition(row.task_id, ["failed"], "failed", now, reason);
  }
  const messageId = o.messages.insert(
    {
      from_agent: "orchestrator",
      to_agent: row.agent_type,
      to_kind: "type",
      message_type: "error_notification",
      content: JSON.stringify({ agent_id: row.agent_id, task_id: row.task_id, error: reason }),
      priority: 0,
      max_attempts: o.config.messages.max_attempts,
      expires_at: now + o.config.messages.ttl,
      idempotency_key: `crash_loop:${row.agent_id}`,
    },
    now,
  );
  o.record({
    kind: "crash_loop",
    agent_id: row.agent_id,
    task_id: row.task_id,
    message_id: messageId,
    detail: { reason },
  });
}
