import { renderReport } from "../agents/render.js";
import { PLAIN, type Style, safeText } from "../render.js";
import { formatDuration } from "../units.js";
import type { RunEvent, RunProgress, RunResult } from "./index.js";

const clock = (at: number) => new Date(at).toISOString().slice(11, 19);

/** One line per event, for logs and pipes. */
export function renderRunEvent(e: RunEvent, style: Style = PLAIN): string {
  const subject = e.task_id ?? e.agent_id ?? "";
  return `${style.dim(clock(e.at))} ${style.status(e.kind.padEnd(17))} ${safeText(subject).padEnd(20)} ${safeText(e.message)}`.trimEnd();
}

function progressBar(done: number, total: number, width: number): string {
  const filled = total === 0 ? 0 : Math.round((done / total) * width);
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}]`;
}

/** The live view on a terminal: counts, a bar over the whole graph, one line per running agent. */
export function renderLiveView(p: RunProgress, style: Style = PLAIN, width = 80): string {
  const t = p.tasks;
  const done = t.completed + t.cancelled;
  const bar = progressBar(done, t.total, Math.max(10, Math.min(40, width - 40)));
  const lines = [
    `${style.bold("orchestrator run")}  ${formatDuration(p.elapsed_ms)}  ${bar} ${done}/${t.total}`,
    `  ${style.status("completed")} ${t.completed}  ${style.status("running")} ${t.running}  ${style.status("review")} ${t.review}  ${style.status("ready")} ${t.ready}  ${style.status("blocked")} ${t.blocked}  ${style.status("failed")} ${t.failed}  ${style.status("conflict")} ${t.conflict}`,
  ];
  for (const a of p.agents) {
    const line = `  ${safeText(a.agent_id).padEnd(28)} ${safeText(a.task_id ?? "-").padEnd(24)} ${formatDuration(a.elapsed_ms).padStart(7)}  `;
    lines.push(`${line.slice(0, Math.max(20, width - 10))}${style.status(a.health)}`);
  }
  if (p.agents.length === 0) lines.push(style.dim("  no agent running"));
  return lines.join("\n");
}

const OUTCOME_TEXT: Record<RunResult["outcome"], string> = {
  completed: "every task is completed",
  stuck: "stopped: nothing can move (see what holds it back below)",
  interrupted: "interrupted: agents stopped; worktrees and branches kept; run again to resume",
};

/** The end of a run: outcome, time per task, the speed-up, and the activity report. */
export function renderRunResult(r: RunResult, style: Style = PLAIN): string {
  const out = [style.bold(`Run ${r.outcome}: ${OUTCOME_TEXT[r.outcome]}`), ""];
  const times = [...r.report.task_times]
    .filter((t) => t.finished_at !== null)
    .sort((a, b) => a.started_at - b.started_at);
  if (times.length > 0) {
    out.push(style.bold("Time per task"));
    for (const t of times) {
      out.push(
        `  ${safeText(t.task_id).padEnd(28)} ${style.status(t.status.padEnd(10))} ${formatDuration(t.duration_ms).padStart(7)}`,
      );
    }
    out.push("");
  }
  out.push(
    `Wall time ${formatDuration(r.wall_ms)}, task time ${formatDuration(r.work_ms)}: speed-up ${r.speedup.toFixed(2)}x over one task after another`,
    "",
    renderReport(r.report, style),
  );
  return out.join("\n");
}
