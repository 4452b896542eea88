import { spawn } from "node:child_process";
import { statSync } from "node:fs";
import type { AgentRow } from "@orchestrator/db";
import type { Orchestrator } from "../context.js";
import { failTask } from "../tasks/index.js";
import { taskBranchAhead } from "../worktrees/index.js";
import { cpuPercent, sampleProcess } from "./process.js";

export interface SuperviseOptions {
  /** Passed to the agent as ORCHESTRATOR_CLI, so it can send heartbeats and messages. */
  cliCommand: readonly string[];
}

/** Replaces {task_id}, {worktree}, {title}, {agent_id} inside each argument; never via a shell. */
export function substitute(args: readonly string[], values: Record<string, string>): string[] {
  return args.map((arg) =>
    arg.replace(/\{(task_id|worktree|title|agent_id)\}/g, (_, key: string) => values[key] ?? ""),
  );
}

/**
 * The supervising wrapper: runs in its own process group, starts the agent's command, records
 * its pid and start time, samples CPU and memory (and, in `process` heartbeat mode, beats while
 * the agent uses CPU or writes output), records the exit, and moves the task on.
 * Resolves with the exit code the supervisor process should end with.
 */
export async function superviseAgent(
  o: Orchestrator,
  agentId: string,
  options: SuperviseOptions,
): Promise<number> {
  const row = o.agents.get(agentId);
  if (row?.status !== "starting") return 0;
  const agentConfig = o.config.agents[row.agent_type];
  if (!agentConfig) {
    o.write(() =>
      o.agents.end(
        agentId,
        { status: "failed", end_reason: `agent type ${row.agent_type} is no longer configured` },
        o.now(),
      ),
    );
    return 1;
  }
  const task = row.task_id ? o.tasks.get(row.task_id) : undefined;
  const [program, ...args] = substitute(agentConfig.command, {
    task_id: row.task_id ?? "",
    worktree: row.worktree_path ?? "",
    title: task?.title ?? "",
    agent_id: agentId,
  });
  const child = spawn(program!, args, {
    cwd: row.worktree_path ?? o.paths.repoRoot,
    stdio: ["ignore", "inherit", "inherit"],
    env: {
      ...process.env,
      ...agentConfig.env,
      ORCHESTRATOR_AGENT_ID: agentId,
      ORCHESTRATOR_AGENT_TYPE: row.agent_type,
      ORCHESTRATOR_TASK_ID: row.task_id ?? "",
      ORCHESTRATOR_DB: o.paths.dbPath,
      ORCHESTRATOR_REPO: o.paths.repoRoot,
      ORCHESTRATOR_CLI: JSON.stringify(options.cliCommand),
    },
  });

  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  process.on("SIGTERM", forward("SIGTERM"));
  process.on("SIGINT", forward("SIGINT"));

  const started = await new Promise<{ ok: true } | { ok: false; error: Error }>((resolve) => {
    child.once("spawn", () => resolve({ ok: true }));
    child.once("error", (error) => resolve({ ok: false, error }));
  });
  if (!started.ok) {
    const reason = `cannot start ${JSON.stringify(program)}: ${started.error.message}`;
    o.write(() => {
      if (o.agents.end(agentId, { status: "failed", end_reason: reason }, o.now())) {
        o.record({
          kind: "agent_failed",
          agent_id: agentId,
          task_id: row.task_id,
          detail: { reason },
        });
      }
    });
    process.stderr.write(`supervisor: ${reason}\n`);
    return 1;
  }

  const pid = child.pid!;
  const first = sampleProcess(pid);
  const stillWanted = o.write(() => {
    const now = o.now();
    if (!o.agents.markRunning(agentId, pid, first?.startTime ?? "unknown", now)) return false;
    if (row.task_id) {
      o.tasks.transition(row.task_id, ["assigned", "failed"], "in_progress", now);
      o.assignments.setActiveStatus(row.task_id, "in_progress", now);
      o.assignments.updateActive(row.task_id, { agent_id: agentId }, now);
    }
    o.record({ kind: "agent_started", agent_id: agentId, task_id: row.task_id, detail: { pid } });
    return true;
  });
  if (!stillWanted) child.kill("SIGTERM"); // killed while starting

  const sampler = startSampling(o, row, pid, first, agentConfig.heartbeat === "process");
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
    (resolve) => child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  clearInterval(sampler);
  await recordExit(o, row, exit);
  return 0;
}

function startSampling(
  o: Orchestrator,
  row: AgentRow,
  pid: number,
  first: ReturnType<typeof sampleProcess>,
  processHeartbeats: boolean,
): NodeJS.Timeout {
  let previous = { ticks: first?.cpuTicks ?? 0, at: o.now(), logSize: logSize(row.log_path) };
  const timer = setInterval(() => {
    const sample = sampleProcess(pid);
    if (!sample) return;
    const now = o.now();
    const size = logSize(row.log_path);
    const active = sample.cpuTicks > previous.ticks || size > previous.logSize;
    const cpu = cpuPercent(previous.ticks, previous.at, sample, now);
    try {
      o.write(() =>
        o.agents.recordSample(
          row.agent_id,
          {
            cpu_percent: cpu,
            cpu_ticks: sample.cpuTicks,
            memory_bytes: sample.rssBytes,
            heartbeat: processHeartbeats && active,
          },
          now,
        ),
      );
    } catch (error) {
      process.stderr.write(`supervisor: could not record a sample: ${(error as Error).message}\n`);
    }
    previous = { ticks: sample.cpuTicks, at: now, logSize: size };
  }, o.config.health.sample_interval);
  timer.unref();
  return timer;
}

function logSize(path: string | null): number {
  if (!path) return 0;
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

async function recordExit(
  o: Orchestrator,
  row: AgentRow,
  exit: { code: number | null; signal: NodeJS.Signals | null },
): Promise<void> {
  const succeeded = exit.code === 0;
  // Asked before the transaction: git is slow and must not hold the write lock.
  const committed =
    succeeded &&
    (row.task_id === null || (await taskBranchAhead(o, row.task_id).catch(() => 0)) > 0);
  const reason = exit.signal
    ? `killed by ${exit.signal}`
    : succeeded
      ? committed
        ? "exited 0"
        : "exited 0 without committing anything"
      : `exited with code ${exit.code}`;
  o.write(() => {
    const now = o.now();
    const ended = o.agents.end(
      row.agent_id,
      {
        status: succeeded ? "exited" : "failed",
        exit_code: exit.code,
        exit_signal: exit.signal,
        end_reason: reason,
      },
      now,
    );
    if (!ended) return; // killed: `agents kill` already recorded the end and released the task
    o.record({
      kind: succeeded ? "agent_exited" : "agent_failed",
      agent_id: row.agent_id,
      task_id: row.task_id,
      detail: { exit_code: exit.code, signal: exit.signal, reason },
    });
    if (!row.task_id || o.assignments.active(row.task_id)?.agent_id !== row.agent_id) return;
    if (succeeded && committed) {
      o.tasks.transition(row.task_id, ["in_progress"], "review", now);
      o.assignments.setActiveStatus(row.task_id, "review", now);
      o.record({ kind: "task_review", task_id: row.task_id, agent_id: row.agent_id });
    } else {
      failTask(o, row.task_id, `agent ${row.agent_id} ${reason}`);
    }
  });
}
