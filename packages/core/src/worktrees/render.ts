import { PLAIN, plural, type Style, safeText, table } from "../render.js";
import type {
  CleanupResult,
  CreateResult,
  MergeWorktreeResult,
  WorktreeListResult,
} from "./index.js";

export function renderCreate(r: CreateResult): string {
  return `Worktree for task ${safeText(r.task_id)} at ${safeText(r.worktree_path)} on branch ${safeText(r.branch)}`;
}

export function renderMerge(r: MergeWorktreeResult, style: Style = PLAIN): string {
  if (r.status === "merged") {
    if (r.already_merged) {
      return `Task ${safeText(r.task_id)} was ${style.status("merged")} before${r.merge_commit ? ` as ${r.merge_commit.slice(0, 12)}` : ""}; nothing to do.`;
    }
    return r.merge_commit
      ? `Merged task ${safeText(r.task_id)}: ${style.status("merged")} as ${r.merge_commit.slice(0, 12)}; the task is completed.`
      : `Task ${safeText(r.task_id)} ${style.status("merged")}: its branch was already contained in the integration branch; the task is completed.`;
  }
  const lines = [
    `${style.bold(`Merge of task ${safeText(r.task_id)} stopped: ${style.status("conflict")}`)} in ${plural(r.conflicts.length, "path")}; the integration branch is unchanged.`,
    ...r.conflicts.slice(0, 50).map((p) => `  ${safeText(p)}`),
    "The task's agent was notified; its worktree stays for the rebase. Merge again when it is resolved.",
  ];
  if (r.conflicts.length > 50) lines.splice(51, 0, `  … and ${r.conflicts.length - 50} more`);
  return lines.join("\n");
}

export function renderWorktreeList(r: WorktreeListResult, style: Style = PLAIN): string {
  if (r.worktrees.length === 0) {
    return "No worktrees. Make one with `orchestrator worktrees create --task-id <id>`.";
  }
  const out = [
    table(
      r.worktrees,
      [
        { header: "TASK", value: (w) => w.task_id ?? "-" },
        { header: "STATUS", value: (w) => w.status, style: (cell) => style.status(cell) },
        {
          header: "AHEAD/BEHIND",
          value: (w) => (w.ahead === null ? "-" : `+${w.ahead}/-${w.behind}`),
        },
        { header: "BRANCH", value: (w) => w.branch ?? "(detached)", max: 50 },
        { header: "PATH", value: (w) => w.worktree_path, max: 60 },
      ],
      style,
    ),
  ];
  const troubled = r.worktrees.filter((w) => w.problems.length > 0);
  if (troubled.length > 0) {
    out.push("", "Needs attention:");
    for (const w of troubled) {
      for (const p of w.problems) {
        out.push(`  ${safeText(w.task_id ?? w.worktree_path)}: ${safeText(p)}`);
      }
    }
  }
  return out.join("\n");
}

export function renderCleanup(r: CleanupResult): string {
  const lines = [
    `Removed ${plural(r.removed.length, "worktree")}${r.removed.length ? `: ${r.removed.map(safeText).join(", ")}` : ""}; kept ${r.kept.length}.`,
  ];
  for (const k of r.kept) lines.push(`  kept ${safeText(k.task_id)}: ${safeText(k.reason)}`);
  for (const id of r.already_removed) {
    lines.push(`  ${safeText(id)}: its worktree was removed before; nothing to do`);
  }
  return lines.join("\n");
}
