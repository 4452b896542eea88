import type { Orchestrator } from "../context.js";
import { invalidInput } from "../errors.js";
import { requireValidIds } from "../ids.js";
import { type AgentHealth, classifyAgent, reopenForRestart } from "./health.js";
import { killAgent } from "./kill.js";
import { requireAgent, type SpawnResult, spawnAgent } from "./spawn.js";

export interface HeartbeatOptions {
  activity?: "working" | "waiting";
  /** What the agent waits on: another agent's id or a task id (feeds deadlock detection). */
  waitingOn?: string | null;
}

export function recordHeartbeat(o: Orchestrator, agentId: string, options: HeartbeatOptions = {}) {
  if (options.waitingOn) requireValidIds("agent or task id", [options.waitingOn]);
  return o.write(() => {
    const row = requireAgent(o, agentId);
    if (
      !o.agents.heartbeat(agentId, o.now(), options.activity ?? null, options.waitingOn ?? null)
    ) {
      throw invalidInput(
        `agent ${agentId} has ended (${row.status}); a new incarnation has a new id`,
        {
          agent_id: agentId,
          status: row.status,
        },
      );
    }
    return {
      agent_id: agentId,
      at: o.now(),
      activity: options.activity ?? row.activity,
      waiting_on: options.waitingOn ?? null,
    };
  });
}

export function listAgents(
  o: Orchestrator,
  options: { agentType?: string; all?: boolean } = {},
): { agents: AgentHealth[] } {
  const now = o.now();
  return { agents: o.agents.list(options).map((row) => classifyAgent(row, o.config, now)) };
}

export interface RestartResult {
  agent_id: string;
  killed: boolean;
  new_agent: SpawnResult;
}

/** A manual restart: the agent is stopped (if live) and a new incarnation starts at once. */
export async function restartAgent(
  o: Orchestrator,
  agentId: string,
  supervisorCommand: readonly string[],
): Promise<RestartResult> {
  const row = requireAgent(o, agentId);
  const kill = await killAgent(o, agentId, { reason: "restarted by request" });
  o.write(() => {
    o.agents.setRestartState(agentId, "restarted", o.now());
    if (row.task_id) reopenForRestart(o, row.task_id);
  });
  const spawned = await spawnAgent(o, {
    agentType: row.agent_type,
    ...(row.task_id ? { taskId: row.task_id } : {}),
    restartOf: agentId,
    supervisorCommand,
  });
  o.write(() => {
    const last = o.agents.lastRestart(row.agent_type, row.task_id);
    o.agents.logRestart({
      agent_id: agentId,
      agent_type: row.agent_type,
      task_id: row.task_id,
      new_agent_id: spawned.agent_id,
      reason: "restarted by request",
      attempt_number: (last?.attempt_number ?? 0) + 1,
      delay_ms: 0,
      due_at: o.now(),
      created_at: o.now(),
    });
    o.record({
      kind: "agent_restarted",
      agent_id: spawned.agent_id,
      task_id: row.task_id,
      detail: { previous: agentId, manual: true },
    });
  });
  return { agent_id: agentId, killed: kill.was_live, new_agent: spawned };
}
