import { PLAIN, plural, type Style, safeText, table } from "../render.js";
import type { AssignResult } from "./index.js";

export function renderAssign(result: AssignResult, style: Style = PLAIN): string {
  const out: string[] = [];
  const verb = result.dry_run ? "Would assign" : "Assigned";
  const headline = {
    assigned: `${verb} ${plural(result.tasks_assigned, "task")}`,
    at_capacity: "At capacity: nothing assigned",
    no_available_work: "No available work: every pending task is blocked",
    all_completed: "All tasks completed",
  }[result.status];
  out.push(
    `${style.bold(headline)} ${style.dim(`(running ${result.running}/${result.max_parallel}, ${result.blocked_tasks} blocked)`)}`,
  );
  if (result.assignments.length > 0) {
    out.push(
      "",
      table(
        result.assignments,
        [
          { header: "TASK", value: (a) => a.task_id },
          { header: "AGENT TYPE", value: (a) => a.agent_type },
          {
            header: "ATTEMPT",
            value: (a) => (a.orchestrator_task_id === null ? "-" : `#${a.orchestrator_task_id}`),
          },
          { header: "TITLE", value: (a) => a.title, max: 60 },
        ],
        style,
      ),
    );
  }
  if (result.waiting_on_files.length > 0) {
    out.push("", "Held back (may write the same files as a task in flight):");
    for (const w of result.waiting_on_files.slice(0, 20)) {
      out.push(
        `  ${safeText(w.task_id)} waits on ${safeText(w.conflicts_with)} (${safeText(w.patterns[0])} ~ ${safeText(w.patterns[1])})`,
      );
    }
  }
  if (result.not_ready.length > 0) {
    out.push("", "Not ready:");
    for (const n of result.not_ready) {
      const why = n.blocked_by.length ? `, waiting on ${n.blocked_by.join(", ")}` : "";
      out.push(`  ${safeText(n.task_id)}: ${n.status}${safeText(why)}`);
    }
  }
  if (result.blockers.length > 0) {
    out.push("", "Held back by:");
    for (const b of result.blockers) {
      const reason = b.reason ? `: ${b.reason}` : "";
      out.push(
        `  ${safeText(b.task_id)} ${style.status(b.status)}${safeText(reason)} (${plural(b.waiting, "task")} waiting)`,
      );
    }
    const stuck = result.blockers.some((b) =>
      ["failed", "conflict", "cancelled"].includes(b.status),
    );
    if (stuck)
      out.push("", "Retry a failed or conflicted task with `orchestrator tasks retry <id>`.");
  }
  return out.join("\n");
}
