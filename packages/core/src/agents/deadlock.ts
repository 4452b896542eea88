import type { Orchestrator } from "../context.js";
import { TaskGraph } from "../tasks/graph.js";

export interface WaitCycle {
  /** Members in wait order, each waiting on the next: ["agent:a1", "task:x", "agent:a2", "agent:a1"]. */
  members: string[];
}

export interface StuckReport {
  pending: number;
  root_blockers: { task_id: string; status: string; reason: string | null; waiting: number }[];
  advice: string;
}

export interface DeadlockReport {
  cycles: WaitCycle[];
  stuck: StuckReport | null;
}

/**
 * Deadlocks: cycles in the wait-for graph of live agents (their declared --waiting-on), the
 * tasks they work on, and those tasks' unfinished dependencies. Only what is reachable from a
 * waiting agent is built, so the cost follows the waiting, not the size of the graph.
 * Stuck: work is pending, but nothing runs, nothing is ready and nothing awaits a merge.
 */
export function findDeadlocks(o: Orchestrator): DeadlockReport {
  const live = o.agents.live();
  const agentsById = new Map(live.map((a) => [a.agent_id, a]));
  const graph = new TaskGraph();
  const waitsOn = (waiter: string, target: string) => graph.addEdge(target, waiter);
  const queue: string[] = [];
  const seen = new Set<string>();
  const visit = (node: string) => {
    if (!seen.has(node)) {
      seen.add(node);
      queue.push(node);
    }
  };
  for (const agent of live) if (agent.waiting_on) visit(`agent:${agent.agent_id}`);
  while (queue.length > 0) {
    const node = queue.shift()!;
    const [kind, id] = [node.slice(0, node.indexOf(":")), node.slice(node.indexOf(":") + 1)];
    if (kind === "agent") {
      const target = agentsById.get(id)?.waiting_on;
      if (!target) continue;
      const next = agentsById.has(target)
        ? `agent:${target}`
        : o.tasks.get(target)
          ? `task:${target}`
          : undefined;
      if (next) {
        waitsOn(node, next);
        visit(next);
      }
    } else {
      const holder = o.agents.liveOnTask(id);
      if (holder) {
        waitsOn(node, `agent:${holder.agent_id}`);
        visit(`agent:${holder.agent_id}`);
      }
      for (const blocker of o.tasks.blockersOf(id)) {
        if (blocker.status === "completed") continue;
        waitsOn(node, `task:${blocker.task_id}`);
        visit(`task:${blocker.task_id}`);
      }
    }
  }
  const cycle = graph.findCycle();
  return { cycles: cycle ? [{ members: cycle }] : [], stuck: findStuck(o, live.length) };
}

function findStuck(o: Orchestrator, liveAgents: number): StuckReport | null {
  const n = (status: string, blocked?: 0 | 1) =>
    o.tasks
      .counts()
      .filter((c) => c.status === status && (blocked === undefined || c.blocked === blocked))
      .reduce((sum, c) => sum + c.n, 0);
  const pending = n("pending");
  const moving = liveAgents + n("assigned") + n("in_progress") + n("review") + n("pending", 0);
  if (pending === 0 || moving > 0) return null;
  const rootBlockers = o.tasks.rootBlockers(10).map((b) => ({
    task_id: b.task_id,
    status: b.status,
    reason: b.status_reason,
    waiting: b.waiting,
  }));
  return {
    pending,
    root_blockers: rootBlockers,
    advice: rootBlockers.length
      ? `retry or fix the root blockers (\`orchestrator tasks retry ${rootBlockers[0]!.task_id}\`), or mark them completed`
      : "no task can start; check the graph with `orchestrator tasks list`",
  };
}
