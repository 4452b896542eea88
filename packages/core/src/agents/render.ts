import { mdTable, mdText, mermaidTaskGraph } from "../markdown.js";
import { PLAIN, plural, type Style, safeText, table } from "../render.js";
import { formatDuration } from "../units.js";
import type { DeadlockReport } from "./deadlock.js";
import type { AgentHealth, HealthResult } from "./health.js";
import type { KillResult } from "./kill.js";
import type { ActivityReport } from "./report.js";
import type { SpawnResult } from "./spawn.js";

const mib = (bytes: number | null) =>
  bytes === null ? "-" : `${Math.round(bytes / 1024 / 1024)}M`;
const pct = (n: number | null) => (n === null ? "-" : `${n.toFixed(0)}%`);
const age = (ms: number | null) => (ms === null ? "-" : formatDuration(ms));

export function renderAgentTable(agents: readonly AgentHealth[], style: Style = PLAIN): string {
  if (agents.length === 0) return "No live agents.";
  return table(
    agents,
    [
      { header: "AGENT", value: (a) => a.agent_id },
      { header: "TYPE", value: (a) => a.agent_type },
      { header: "STATUS", value: (a) => a.status },
      { header: "HEALTH", value: (a) => a.health, style: (cell) => style.status(cell) },
      { header: "TASK", value: (a) => a.task_id ?? "-" },
      { header: "PID", value: (a) => (a.pid === null ? "-" : String(a.pid)) },
      { header: "UP", value: (a) => age(a.uptime_ms) },
      { header: "HEARTBEAT", value: (a) => age(a.heartbeat_age_ms) },
      { header: "CPU", value: (a) => pct(a.cpu_percent) },
      { header: "MEM", value: (a) => mib(a.memory_bytes) },
      { header: "WHY", value: (a) => a.reasons.join("; ") || "-", max: 60 },
    ],
    style,
  );
}

export function renderSpawn(r: SpawnResult): string {
  return `Started ${safeText(r.agent_id)} (pid ${r.pid})${r.task_id ? ` on task ${safeText(r.task_id)} in ${safeText(r.worktree_path ?? "")}` : ""}\nlog: ${safeText(r.log_path)}`;
}

export function renderKill(r: KillResult): string {
  if (!r.was_live) return `Agent ${safeText(r.agent_id)} had already ended.`;
  return `Killed ${safeText(r.agent_id)} (${r.signal === "SIGKILL" ? "it ignored SIGTERM; SIGKILL after the grace period" : r.signal === "SIGTERM" ? "SIGTERM" : "its process was already gone"}).`;
}

export function renderHealth(r: HealthResult, style: Style = PLAIN): string {
  const c = r.counts;
  const out = [
    `${plural(r.agents.length, "live agent")}: ${c.healthy} healthy, ${c.warning} warning, ${c.stalled} stalled, ${c.critical} critical, ${c.dead} dead`,
  ];
  if (r.agents.length) out.push("", renderAgentTable(r.agents, style));
  if (r.duplicates_killed.length)
    out.push(
      "",
      `Killed duplicate singleton instances: ${r.duplicates_killed.map(safeText).join(", ")}`,
    );
  for (const d of r.restarts) {
    const what = {
      restarted: `restarted as ${safeText(d.new_agent_id ?? "")} (attempt ${d.attempt}, after ${formatDuration(d.delay_ms)})`,
      scheduled: `restart ${d.attempt} scheduled in ${formatDuration(d.due_at - Date.now())} (backoff ${formatDuration(d.delay_ms)})`,
      gave_up: "not restarted: crash-loop limit reached; its task failed",
      not_needed: "not restarted",
      start_failed: `restart ${d.attempt} could not start; the next health check tries again`,
    }[d.action];
    out.push(`${safeText(d.agent_id)}: ${what} — ${safeText(d.reason)}`);
  }
  return out.join("\n");
}

export function renderDeadlocks(d: DeadlockReport): string[] {
  const out: string[] = [];
  for (const cycle of d.cycles)
    out.push(`Deadlock: ${cycle.members.map(safeText).join(" waits on ")}`);
  if (d.stuck) {
    out.push(`Stuck: ${plural(d.stuck.pending, "pending task")} but nothing is running or ready.`);
    for (const b of d.stuck.root_blockers) {
      out.push(
        `  held back by ${safeText(b.task_id)} (${b.status}${b.reason ? `: ${safeText(b.reason)}` : ""}), ${plural(b.waiting, "task")} waiting`,
      );
    }
    out.push(`  ${d.stuck.advice}`);
  }
  return out;
}

function happenedLines(r: ActivityReport): [string, number][] {
  const h = r.happened;
  return [
    ["tasks completed", h.tasks_completed],
    ["tasks failed", h.tasks_failed],
    ["tasks assigned", h.tasks_assigned],
    ["agents started", h.agents_started],
    ["agents restarted", h.agents_restarted],
    ["agents killed", h.agents_killed],
    ["agents failed", h.agents_failed],
    ["messages sent", h.messages_sent],
    ["messages dead-lettered", h.messages_dead_lettered],
    ["merges", h.merges],
    ["merge conflicts", h.conflicts],
  ];
}

export function renderReport(r: ActivityReport, style: Style = PLAIN): string {
  const t = r.now.tasks;
  const out = [
    style.bold(`Activity since ${new Date(r.since).toISOString()}`),
    ...happenedLines(r).map(([name, n]) => `  ${name.padEnd(24)} ${n}`),
    "",
    style.bold("Now"),
    `  tasks: ${t.total} (${t.completed} completed, ${t.running} running, ${t.review} in review, ${t.ready} ready, ${t.blocked} blocked, ${t.failed} failed, ${t.conflict} conflict)`,
    `  worktrees: ${
      Object.entries(r.now.worktrees)
        .map(([k, n]) => `${n} ${k}`)
        .join(", ") || "none"
    }`,
  ];
  if (r.work_ms > 0) {
    out.push(
      `  work ${formatDuration(r.work_ms)} in ${formatDuration(r.wall_ms)} of wall time (speed-up ${(r.work_ms / Math.max(1, r.wall_ms)).toFixed(2)}x)`,
    );
  }
  out.push(
    "",
    renderAgentTable(r.now.agents, style),
    ...renderDeadlocks(r.now.deadlocks).map((l) => `\n${l}`),
  );
  return out.join("\n");
}

export function renderReportMarkdown(r: ActivityReport): string {
  const t = r.now.tasks;
  const out = [
    `## Orchestrator activity since ${new Date(r.since).toISOString()}`,
    "",
    mdTable(
      ["what happened", "count"],
      happenedLines(r).map(([k, n]) => [k, String(n)]),
    ),
    "",
    "### Tasks now",
    "",
    mdTable(
      ["total", "completed", "running", "review", "ready", "blocked", "failed", "conflict"],
      [
        [t.total, t.completed, t.running, t.review, t.ready, t.blocked, t.failed, t.conflict].map(
          String,
        ),
      ],
    ),
  ];
  if (r.now.agents.length) {
    out.push(
      "",
      "### Agents",
      "",
      mdTable(
        ["agent", "type", "health", "task", "heartbeat", "cpu", "memory", "why"],
        r.now.agents.map((a) => [
          a.agent_id,
          a.agent_type,
          a.health,
          a.task_id ?? "-",
          age(a.heartbeat_age_ms),
          pct(a.cpu_percent),
          mib(a.memory_bytes),
          a.reasons.join("; "),
        ]),
      ),
    );
  }
  const problems = renderDeadlocks(r.now.deadlocks);
  if (problems.length)
    out.push("", "### Problems", "", ...problems.map((l) => `- ${mdText(l.trim())}`));
  if (r.graph) out.push("", "### Task graph", "", mermaidTaskGraph(r.graph));
  return out.join("\n");
}
