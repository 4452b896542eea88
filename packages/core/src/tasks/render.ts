import { PLAIN, plural, type Style, safeText, table } from "../render.js";
import type { ImportResult, TaskDetail, TaskView, TransitionResult } from "./index.js";

export function renderTaskList(result: { tasks: TaskView[] }, style: Style = PLAIN): string {
  if (result.tasks.length === 0)
    return "No tasks. Load a plan with `orchestrator tasks import <plan.yaml>`.";
  const rows = table(
    result.tasks,
    [
      { header: "ID", value: (t) => t.id },
      { header: "STATUS", value: (t) => statusLabel(t), style: (cell) => style.status(cell) },
      { header: "PRI", value: (t) => String(t.priority) },
      { header: "GROUP", value: (t) => t.group ?? "-" },
      { header: "AGENT TYPE", value: (t) => t.agent_type },
      { header: "WAITING ON", value: (t) => t.blocked_by.join(",") || "-", max: 40 },
      { header: "TITLE", value: (t) => t.title, max: 50 },
    ],
    style,
  );
  return `${rows}\n\n${summaryLine(result.tasks)}`;
}

function statusLabel(t: TaskView): string {
  if (t.status !== "pending") return t.status;
  return t.blocked_by.length > 0 ? "blocked" : "ready";
}

function summaryLine(tasks: TaskView[]): string {
  const counts = new Map<string, number>();
  for (const t of tasks) counts.set(statusLabel(t), (counts.get(statusLabel(t)) ?? 0) + 1);
  return `${plural(tasks.length, "task")}: ${[...counts].map(([k, n]) => `${n} ${k}`).join(", ")}`;
}

export function renderImport(result: ImportResult): string {
  const lines = [
    `Imported ${plural(result.imported, "new task")}, updated ${result.updated}, unchanged ${result.unchanged}; ${plural(result.edges, "dependency", "dependencies")} added, ${result.edges_removed} removed.`,
  ];
  if (result.skipped_started.length > 0) {
    lines.push(
      `Kept as they are (already started, the plan differs): ${result.skipped_started.map(safeText).join(", ")}`,
    );
  }
  return lines.join("\n");
}

export function renderTaskDetail(t: TaskDetail, style: Style = PLAIN): string {
  const lines = [
    `${style.bold(safeText(t.id))}  ${style.status(t.status)}  ${safeText(t.title)}`,
    `  ${safeText(t.explanation)}`,
    `  group: ${safeText(t.group ?? "-")}   priority: ${t.priority}   agent type: ${safeText(t.agent_type)}   critical path: ${t.critical_path}   attempts: ${t.attempts}`,
    `  depends on: ${safeText(t.depends_on.join(", ") || "-")}`,
    `  needed by:  ${safeText(t.dependents.join(", ") || "-")}`,
  ];
  if (t.files) lines.push(`  files: ${safeText(t.files.join(", "))}`);
  if (t.assignment) {
    const a = t.assignment;
    lines.push(
      `  latest attempt: #${a.id} ${a.status}${a.agent_id ? ` by ${safeText(a.agent_id)}` : ""}${a.branch ? ` on ${safeText(a.branch)}` : ""}`,
    );
  }
  return lines.join("\n");
}

export function renderTransition(r: TransitionResult): string {
  if (!r.changed) return `Task ${safeText(r.task_id)} is already ${r.status}.`;
  const unblocked = r.unblocked.length
    ? `; now ready: ${r.unblocked.map(safeText).join(", ")}`
    : "";
  return `Task ${safeText(r.task_id)}: ${r.previous_status} -> ${r.status}${unblocked}`;
}
