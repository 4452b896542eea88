import { safeText } from "./render.js";

/**
 * User text made inert in GitHub-flavoured Markdown, the one escaper for every Markdown the
 * orchestrator writes (`agents report --format markdown`, the action's job summary):
 * - one line: line breaks become spaces;
 * - control characters, bidi controls and lone surrogates become visible escapes (`safeText`);
 * - Markdown punctuation is backslash-escaped (also `$` for math and `^`), so no emphasis, code,
 *   link, heading, list or footnote can start;
 * - HTML special characters become entities, and `|` one too, so a table cell cannot end early;
 * - `@` is followed by a zero-width space, so no one is mentioned (and no email autolinked);
 *   `://` and `www.` get one too, so no URL becomes a link.
 */
export function mdText(text: string): string {
  // Backslash escapes first: the entities added after them hold '#' and ';' of their own.
  return safeText(text.replace(/\r\n|\r|\n/g, " "))
    .replace(/[\\`*_{}[\]()#+\-.!~:$^]/g, (c) => `\\${c}`)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/\|/g, "&#124;")
    .replace(/@/g, "@\u200b")
    .replace(/\\:\/\//g, "\\:\u200b//")
    .replace(/(www)\\\./gi, "$1\u200b\\.");
}

export function mdTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  return [
    line(headers),
    line(headers.map(() => "---")),
    ...rows.map((r) => line(r.map(mdText))),
  ].join("\n");
}

const STATUS_STYLE: Record<string, string> = {
  pending: "fill:#f6f8fa,stroke:#8c959f",
  ready: "fill:#ddf4ff,stroke:#0969da",
  blocked: "fill:#fff8c5,stroke:#9a6700",
  assigned: "fill:#ddf4ff,stroke:#0969da",
  in_progress: "fill:#b6e3ff,stroke:#0969da",
  review: "fill:#fbefff,stroke:#8250df",
  completed: "fill:#dafbe1,stroke:#1a7f37",
  failed: "fill:#ffebe9,stroke:#cf222e",
  conflict: "fill:#ffebe9,stroke:#cf222e,stroke-dasharray:4",
  cancelled: "fill:#eaeef2,stroke:#6e7781",
};

/**
 * A mermaid graph of tasks coloured by status (blockers point at their dependents). Ids are
 * already restricted to safe characters; node names are positional so nothing user-written
 * reaches mermaid's syntax.
 */
export function mermaidTaskGraph(
  tasks: readonly { id: string; status: string; depends_on: readonly string[] }[],
): string {
  const node = new Map(tasks.map((t, i) => [t.id, `t${i}`]));
  const status = new Map(tasks.map((t) => [t.id, t.status]));
  const shown = (t: (typeof tasks)[number]) =>
    t.status !== "pending"
      ? t.status
      : t.depends_on.some((d) => status.get(d) !== "completed")
        ? "blocked"
        : "ready";
  const lines = ["```mermaid", "graph LR"];
  const used = new Set<string>();
  for (const t of tasks) {
    used.add(shown(t));
    lines.push(`  ${node.get(t.id)}["${t.id.replace(/"/g, "#quot;")}"]:::${shown(t)}`);
  }
  for (const t of tasks) {
    for (const dep of t.depends_on) {
      const from = node.get(dep);
      if (from) lines.push(`  ${from} --> ${node.get(t.id)}`);
    }
  }
  for (const [status, style] of Object.entries(STATUS_STYLE))
    if (used.has(status)) lines.push(`  classDef ${status} ${style}`);
  lines.push("```");
  return lines.join("\n");
}
