/**
 * The job summary: GitHub-flavoured Markdown for one step's command. Rendering only; it decides
 * nothing. Every piece of user text (titles, reasons, ids) goes through `md()` or `mermaidText()`.
 */

import { mdText, safeText, shorten } from "@orchestrator/core";

/** GitHub refuses a step summary above 1 MiB; stay well under it. */
export const SUMMARY_LIMIT_BYTES = 1024 * 1024 - 64 * 1024;
/** Above this many tasks the graph shows groups with per-status counts instead of tasks. */
export const GRAPH_TASK_LIMIT = 150;
/** Mermaid's default maxTextSize is 50,000 characters; a bigger diagram does not render. */
export const MERMAID_TEXT_LIMIT = 45_000;
/** Rows per table before the rest is counted instead of shown. */
export const TABLE_ROW_LIMIT = 200;
const CELL_LIMIT = 200;

/**
 * Text made inert in Markdown (and in a table cell), at most `limit` characters: the one
 * escaper of the orchestrator, `mdText` (visible escapes for control characters, HTML entities,
 * Markdown punctuation escaped, `|` cannot end a cell, `@` mentions no one, no autolinks, one
 * line), applied to the text shortened between graphemes.
 */
export function md(value: unknown, limit = CELL_LIMIT): string {
  const text =
    typeof value === "string"
      ? value
      : value === null || value === undefined
        ? ""
        : JSON.stringify(value);
  return mdText(shorten(text, limit));
}

/** Text inside a quoted mermaid label: everything but plain letters, digits and spaces as #code; */
export function mermaidText(value: string, limit = 60): string {
  const text = shorten(safeText(value.replace(/\r\n|\r|\n/g, " ")), limit);
  return [...text].map((c) => (/[A-Za-z0-9 ]/.test(c) ? c : `#${c.codePointAt(0)};`)).join("");
}

export interface TableColumn<T> {
  header: string;
  value: (row: T) => unknown;
}

/**
 * A whole Markdown table, at most `limit` rows, followed by a line counting the rows not shown.
 * A table is always complete: summaries shrink by showing fewer rows, never by cutting text.
 */
export function mdTable<T>(
  rows: readonly T[],
  columns: readonly TableColumn<T>[],
  limit = TABLE_ROW_LIMIT,
): string {
  if (rows.length === 0) return "_none_\n";
  const shown = rows.slice(0, limit);
  const lines = [
    `| ${columns.map((c) => md(c.header)).join(" | ")} |`,
    `| ${columns.map(() => "---").join(" | ")} |`,
    ...shown.map((row) => `| ${columns.map((c) => md(c.value(row))).join(" | ")} |`),
  ];
  if (rows.length > shown.length) {
    lines.push(
      "",
      `_…and ${rows.length - shown.length} more rows, in the step's \`result\` output._`,
    );
  }
  return `${lines.join("\n")}\n`;
}

function isScalar(value: unknown): boolean {
  return value === null || ["string", "number", "boolean"].includes(typeof value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Any command's JSON result as tables: its scalar fields in one two-column table, then each
 * list of objects as its own table (columns: the union of their keys), each list of scalars as
 * one line. Works for commands that do not exist yet.
 */
export function resultTables(result: unknown, rowLimit = TABLE_ROW_LIMIT): string {
  if (!isRecord(result)) return `${md(result, 2000)}\n`;
  const parts: string[] = [];
  const scalars = Object.entries(result).filter(
    ([, v]) => isScalar(v) || (Array.isArray(v) && v.every(isScalar)) || isRecord(v),
  );
  if (scalars.length > 0) {
    parts.push(
      mdTable(
        scalars,
        [
          { header: "field", value: ([k]) => k },
          { header: "value", value: ([, v]) => (Array.isArray(v) ? v.join(", ") : v) },
        ],
        rowLimit,
      ),
    );
  }
  for (const [key, value] of Object.entries(result)) {
    if (!Array.isArray(value) || value.every(isScalar)) continue;
    const rows = value.filter(isRecord);
    const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
    parts.push(`#### ${md(key)} (${value.length})\n`);
    parts.push(
      mdTable(
        rows,
        keys.map((k) => ({ header: k, value: (r: Record<string, unknown>) => r[k] })),
        rowLimit,
      ),
    );
  }
  return parts.join("\n");
}

export interface GraphTask {
  id: string;
  title: string;
  status: string;
  group: string | null;
  depends_on: string[];
  blocked_by: string[];
}

/** Status shown in the graph: a pending task is `ready` or `blocked`. */
export function displayStatus(t: GraphTask): string {
  if (t.status !== "pending") return t.status;
  return t.blocked_by.length > 0 ? "blocked" : "ready";
}

const STATUS_STYLE: Record<string, string> = {
  completed: "fill:#2da44e,stroke:#1a7f37,color:#fff",
  ready: "fill:#ffffff,stroke:#1f6feb,stroke-width:2px,color:#000",
  blocked: "fill:#eaeef2,stroke:#8c959f,color:#000",
  assigned: "fill:#54aeff,stroke:#0969da,color:#000",
  in_progress: "fill:#0969da,stroke:#033d8b,color:#fff",
  review: "fill:#a475f9,stroke:#8250df,color:#fff",
  failed: "fill:#cf222e,stroke:#a40e26,color:#fff",
  conflict: "fill:#bc4c00,stroke:#953800,color:#fff",
  cancelled: "fill:#6e7781,stroke:#57606a,color:#fff",
};
const STATUS_ORDER = Object.keys(STATUS_STYLE);

function classDefs(used: Iterable<string>): string[] {
  const set = new Set(used);
  return STATUS_ORDER.filter((s) => set.has(s)).map((s) => `  classDef ${s} ${STATUS_STYLE[s]};`);
}

function legend(tasks: readonly GraphTask[]): string {
  const counts = new Map<string, number>();
  for (const t of tasks) counts.set(displayStatus(t), (counts.get(displayStatus(t)) ?? 0) + 1);
  return STATUS_ORDER.filter((s) => counts.has(s))
    .map((s) => `${s}: ${counts.get(s)}`)
    .join(" · ");
}

/** One node per task, coloured by status, an edge per dependency (blocker → dependent). */
export function taskGraph(tasks: readonly GraphTask[]): string {
  const index = new Map(tasks.map((t, i) => [t.id, `t${i}`]));
  const lines = ["flowchart LR"];
  for (const t of tasks) {
    lines.push(
      `  ${index.get(t.id)}["${mermaidText(t.id, 64)}<br/>${mermaidText(t.title)}"]:::${displayStatus(t)}`,
    );
  }
  for (const t of tasks) {
    for (const dep of t.depends_on) {
      const from = index.get(dep);
      if (from) lines.push(`  ${from} --> ${index.get(t.id)}`);
    }
  }
  lines.push(...classDefs(tasks.map(displayStatus)));
  return lines.join("\n");
}

/**
 * The graph summarised for big plans: one node per group with its tasks counted by status,
 * coloured by the most urgent status in it, and one edge per pair of groups with dependencies
 * between them. Only the `maxGroups` biggest groups are drawn; the rest are one "other" node.
 */
export function groupGraph(tasks: readonly GraphTask[], maxGroups = 60): string {
  const groupOf = new Map<string, string>();
  const sizes = new Map<string, number>();
  for (const t of tasks) {
    const g = t.group ?? "(no group)";
    sizes.set(g, (sizes.get(g) ?? 0) + 1);
  }
  const kept = new Set(
    [...sizes]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, maxGroups)
      .map(([g]) => g),
  );
  const OTHER = "(other groups)";
  for (const t of tasks) {
    const g = t.group ?? "(no group)";
    groupOf.set(t.id, kept.has(g) ? g : OTHER);
  }
  const groups = [...new Set(groupOf.values())].sort();
  const id = new Map(groups.map((g, i) => [g, `g${i}`]));
  const counts = new Map<string, Map<string, number>>();
  for (const t of tasks) {
    const g = groupOf.get(t.id)!;
    const c = counts.get(g) ?? new Map<string, number>();
    counts.set(g, c);
    c.set(displayStatus(t), (c.get(displayStatus(t)) ?? 0) + 1);
  }
  const urgency = [
    "failed",
    "conflict",
    "in_progress",
    "assigned",
    "review",
    "ready",
    "blocked",
    "cancelled",
    "completed",
  ];
  const lines = ["flowchart LR"];
  const used: string[] = [];
  for (const g of groups) {
    const c = counts.get(g)!;
    const total = [...c.values()].reduce((a, b) => a + b, 0);
    const colour = urgency.find((s) => c.has(s)) ?? "blocked";
    used.push(colour);
    const detail = STATUS_ORDER.filter((s) => c.has(s))
      .map((s) => `${c.get(s)} ${s}`)
      .join(", ");
    lines.push(
      `  ${id.get(g)}["${mermaidText(g, 64)}<br/>${total} tasks#58; ${mermaidText(detail, 200)}"]:::${colour}`,
    );
  }
  const edges = new Set<string>();
  for (const t of tasks) {
    for (const dep of t.depends_on) {
      const from = groupOf.get(dep);
      const to = groupOf.get(t.id)!;
      if (from && from !== to) edges.add(`  ${id.get(from)} --> ${id.get(to)}`);
    }
  }
  lines.push(...[...edges].sort(), ...classDefs(used));
  return lines.join("\n");
}

/** The task graph in a mermaid block: per task when small enough, per group otherwise. */
export function graphSection(tasks: readonly GraphTask[]): string {
  if (tasks.length === 0) return "";
  const heading = `### Task graph\n\n${legend(tasks)}\n\n`;
  if (tasks.length <= GRAPH_TASK_LIMIT) {
    const full = taskGraph(tasks);
    if (full.length <= MERMAID_TEXT_LIMIT) return `${heading}\`\`\`mermaid\n${full}\n\`\`\`\n`;
  }
  for (const maxGroups of [60, 30, 10]) {
    const grouped = groupGraph(tasks, maxGroups);
    if (grouped.length <= MERMAID_TEXT_LIMIT) {
      return `${heading}_${tasks.length} tasks: shown by group._\n\n\`\`\`mermaid\n${grouped}\n\`\`\`\n`;
    }
  }
  return `${heading}_${tasks.length} tasks: too many groups to draw._\n`;
}

export interface SummaryInput {
  command: string;
  ok: boolean;
  result?: unknown;
  error?: { code: string; message: string };
  /** Lines about the database artifact (restored from, uploaded as). */
  database: string[];
  /** Tasks to draw, for commands whose summary shows the graph. */
  tasks?: readonly GraphTask[];
  /** Extra sections rendered before the generic tables (e.g. assign's own view). */
  sections?: string[];
}

function byteLength(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

/**
 * The whole summary, under SUMMARY_LIMIT_BYTES: when too big, tables show fewer rows and the
 * graph collapses to groups, then disappears, each step announced in the text, never cut mid-way.
 */
export function renderSummary(input: SummaryInput, limit = SUMMARY_LIMIT_BYTES): string {
  const build = (rowLimit: number, graph: "full" | "groups" | "none") => {
    const parts = [`## orchestrator ${md(input.command)}: ${input.ok ? "✅ ok" : "❌ failed"}\n`];
    if (!input.ok && input.error) {
      parts.push(`> **${md(input.error.code)}**: ${md(input.error.message, 2000)}\n`);
    }
    for (const s of input.sections ?? []) parts.push(s);
    if (input.ok && input.result !== undefined) {
      parts.push("### Result\n", resultTables(input.result, rowLimit));
    }
    if (input.tasks && graph !== "none") {
      parts.push(graph === "full" ? graphSection(input.tasks) : groupedOnly(input.tasks));
    } else if (input.tasks && input.tasks.length > 0) {
      parts.push(
        `### Task graph\n\n${legend(input.tasks)}\n\n_Not drawn: the summary would exceed GitHub's size limit._\n`,
      );
    }
    if (input.database.length > 0) {
      parts.push(`### Database\n\n${input.database.map((l) => `- ${l}`).join("\n")}\n`);
    }
    return parts.join("\n");
  };
  const attempts: [number, "full" | "groups" | "none"][] = [
    [TABLE_ROW_LIMIT, "full"],
    [50, "full"],
    [50, "groups"],
    [20, "groups"],
    [10, "none"],
    [0, "none"],
  ];
  for (const [rows, graph] of attempts) {
    const text = build(rows, graph);
    if (byteLength(text) <= limit) return text;
  }
  return `## orchestrator ${md(input.command)}: ${input.ok ? "✅ ok" : "❌ failed"}\n\n_The summary would exceed GitHub's size limit; see the step's \`result\` output._\n`;
}

function groupedOnly(tasks: readonly GraphTask[]): string {
  for (const maxGroups of [30, 10]) {
    const grouped = groupGraph(tasks, maxGroups);
    if (grouped.length <= MERMAID_TEXT_LIMIT) {
      return `### Task graph\n\n${legend(tasks)}\n\n_${tasks.length} tasks: shown by group._\n\n\`\`\`mermaid\n${grouped}\n\`\`\`\n`;
    }
  }
  return "";
}
