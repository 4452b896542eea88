import { setTimeout as sleep } from "node:timers/promises";
import type { AgentRow } from "@orchestrator/db";
import type { Orchestrator } from "../context.js";
import { isSameProcess, signalGroup } from "./process.js";
import { releaseTask, requireAgent } from "./spawn.js";

export interface KillResult {
  agent_id: string;
  was_live: boolean;
  /** The last signal it took: SIGTERM when that was enough, SIGKILL after the grace period. */
  signal: "SIGTERM" | "SIGKILL" | null;
}

export interface KillOptions {
  graceMs?: number;
  /** Recorded status: `killed` for a user's kill (never restarted), `failed` for a stalled agent (restartable). */
  status?: "killed" | "failed";
  reason?: string;
}

/**
 * Ends an agent: its row first (so its supervisor records nothing more and its task is free
 * again), then SIGTERM to its whole process group, then SIGKILL after the grace period.
 */
export async function killAgent(
  o: Orchestrator,
  agentId: string,
  options: KillOptions = {},
): Promise<KillResult> {
  const row = requireAgent(o, agentId);
  const ended = o.write(() => {
    if (
      !o.agents.end(
        agentId,
        { status: options.status ?? "killed", end_reason: options.reason ?? "killed by request" },
        o.now(),
      )
    ) {
      return false;
    }
    if (row.task_id) releaseTask(o, row.task_id, agentId);
    o.record({
      kind: options.status === "failed" ? "agent_failed" : "agent_killed",
      agent_id: agentId,
      task_id: row.task_id,
      detail: { reason: options.reason ?? "killed by request" },
    });
    return true;
  });
  if (!ended) return { agent_id: agentId, was_live: false, signal: null };
  const signal = await terminate(row, options.graceMs ?? o.config.health.kill_grace);
  return { agent_id: agentId, was_live: true, signal };
}

function alive(row: AgentRow): boolean {
  return (
    isSameProcess(row.pid, row.pid_start_time) ||
    isSameProcess(row.supervisor_pid, row.supervisor_start_time)
  );
}

function send(row: AgentRow, signal: NodeJS.Signals): void {
  // The supervisor leads the agent's process group; without one, signal the agent alone.
  if (isSameProcess(row.supervisor_pid, row.supervisor_start_time))
    signalGroup(row.supervisor_pid!, signal);
  if (isSameProcess(row.pid, row.pid_start_time)) {
    try {
      process.kill(row.pid!, signal);
    } catch {
      // gone meanwhile
    }
  }
}

async function terminate(row: AgentRow, graceMs: number): Promise<"SIGTERM" | "SIGKILL" | null> {
  if (!alive(row)) return null;
  send(row, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    await sleep(25);
    if (!alive(row)) return "SIGTERM";
  }
  send(row, "SIGKILL");
  for (let i = 0; i < 40 && alive(row); i++) await sleep(25);
  return "SIGKILL";
}
