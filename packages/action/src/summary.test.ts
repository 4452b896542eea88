import { describe, expect, it } from "vitest";
import {
  displayStatus,
  type GraphTask,
  graphSection,
  MERMAID_TEXT_LIMIT,
  md,
  mdTable,
  mermaidText,
  renderSummary,
  resultTables,
  SUMMARY_LIMIT_BYTES,
  taskGraph,
} from "./summary.js";

const task = (id: string, more: Partial<GraphTask> = {}): GraphTask => ({
  id,
  title: `Task ${id}`,
  status: "pending",
  group: null,
  depends_on: [],
  blocked_by: [],
  ...more,
});

describe("md: user text made inert in Markdown", () => {
  it.each([
    ["<script>alert(1)</script>", "&lt;script&gt;alert\\(1\\)&lt;/script&gt;"],
    ["a | b", "a &#124; b"],
    [
      "**bold** _it_ `code` [link](http://x)",
      "\\*\\*bold\\*\\* \\_it\\_ \\`code\\` \\[link\\]\\(http\\:\u200b//x\\)",
    ],
    ["ping @octocat", "ping @\u200boctocat"],
    ["see www.example.com", "see www\u200b\\.example\\.com"],
    ["$x^2$", "\\$x\\^2\\$"],
    ["line\nbreak\r\nthere", "line break there"],
    [
      "bell\u0007 esc\u001b[31m bidi\u202e",
      "bell\\\\u\\{7\\} esc\\\\u\\{1b\\}\\[31m bidi\\\\u\\{202e\\}",
    ],
    ["# heading", "\\# heading"],
    ['"quoted" & more', "&quot;quoted&quot; &amp; more"],
  ])("%j", (input, expected) => {
    expect(md(input)).toBe(expected);
  });

  it("never leaves a raw control character, pipe, angle bracket or newline", () => {
    let all = "";
    for (let c = 0; c < 0x250; c++) all += String.fromCodePoint(c);
    const out = md(all, 10_000);
    const raw = [...out].filter((c) => {
      const code = c.codePointAt(0)!;
      return code < 0x20 || (code >= 0x7f && code <= 0x9f) || "<>|\n".includes(c);
    });
    expect(raw).toEqual([]);
  });

  it("shortens long cells", () => {
    expect(md("x".repeat(500))).toHaveLength(200);
  });
});

describe("mermaidText", () => {
  it("keeps letters, digits and spaces; everything else is an entity code", () => {
    expect(mermaidText('a"]; click x href "javascript:1"')).toBe(
      "a#34;#93;#59; click x href #34;javascript#58;1#34;",
    );
    expect(mermaidText("end\nA-->B")).toBe("end A#45;#45;#62;B");
  });
});

describe("task graph", () => {
  it("draws one node per task coloured by status and an edge per dependency", () => {
    const graph = taskGraph([
      task("db", { status: "completed" }),
      task("api", { depends_on: ["db"] }),
      task("ui", { depends_on: ["api"], blocked_by: ["api"] }),
      task("bad", { status: "failed", title: "<img src=x onerror=alert(1)>" }),
    ]);
    expect(graph).toContain('t0["db<br/>Task db"]:::completed');
    expect(graph).toContain(":::ready");
    expect(graph).toContain(":::blocked");
    expect(graph).toContain("t0 --> t1");
    expect(graph).toContain("t1 --> t2");
    expect(graph).toContain("classDef failed");
    expect(graph).not.toContain("<img");
  });

  it("shows a pending task as ready or blocked", () => {
    expect(displayStatus(task("a"))).toBe("ready");
    expect(displayStatus(task("a", { blocked_by: ["b"] }))).toBe("blocked");
  });

  it("collapses a big graph to groups with per-status counts, within mermaid's text limit", () => {
    const tasks: GraphTask[] = [];
    for (let i = 0; i < 5000; i++) {
      tasks.push(
        task(`task-${i}`, {
          group: `G${i % 40}`,
          status: i % 3 === 0 ? "completed" : "pending",
          depends_on: i > 40 ? [`task-${i - 40}`, `task-${i - 39}`] : [],
          title: "t".repeat(50),
        }),
      );
    }
    const section = graphSection(tasks);
    expect(section).toContain("5000 tasks: shown by group.");
    const mermaid = /```mermaid\n([\s\S]*?)\n```/.exec(section)![1]!;
    expect(mermaid.length).toBeLessThanOrEqual(MERMAID_TEXT_LIMIT);
    expect(mermaid.split("\n").filter((l) => l.includes("<br/>"))).toHaveLength(40);
    expect(mermaid).toMatch(/G0<br\/>125 tasks#58; \d+ completed#44; \d+ ready/);
  });

  it("draws at most the biggest groups and folds the rest into one node", () => {
    const tasks = Array.from({ length: 3000 }, (_, i) => task(`t${i}`, { group: `group-${i}` }));
    const section = graphSection(tasks);
    const nodes = section.split("\n").filter((l) => l.includes("<br/>"));
    expect(nodes.length).toBeLessThanOrEqual(61);
    expect(section).toContain("(other groups)".replace(/[()]/g, (c) => `#${c.codePointAt(0)};`));
  });
});

describe("tables", () => {
  it("a table is always whole: rows beyond the limit are counted, not cut", () => {
    const rows = Array.from({ length: 30 }, (_, i) => ({ id: `r${i}` }));
    const text = mdTable(rows, [{ header: "id", value: (r) => r.id }], 10);
    expect(text.split("\n").filter((l) => l.startsWith("|"))).toHaveLength(12);
    expect(text).toContain("…and 20 more rows");
  });

  it("renders any result: scalars in one table, each list of objects in its own", () => {
    const text = resultTables({
      status: "assigned",
      count: 2,
      ids: ["a", "b"],
      assignments: [{ task_id: "a", title: "A|B" }],
    });
    expect(text).toContain("| status | assigned |");
    expect(text).toContain("| ids | a, b |");
    expect(text).toContain("#### assignments (1)");
    expect(text).toContain("| task\\_id | title |");
    expect(text).toContain("| a | A&#124;B |");
  });
});

describe("renderSummary stays under GitHub's 1 MiB step summary limit", () => {
  it("shrinks tables and the graph on a huge result, announcing it, never cutting mid-table", () => {
    const tasks = Array.from({ length: 100_000 }, (_, i) =>
      task(`task-${i}`, { group: `G${i % 500}`, title: `${"<&>|".repeat(20)} ${i}` }),
    );
    const text = renderSummary({
      command: "tasks list",
      ok: true,
      result: { tasks: tasks.map((t) => ({ ...t, explanation: "x".repeat(180) })) },
      database: ["restored"],
      tasks,
    });
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(SUMMARY_LIMIT_BYTES);
    expect(text).toContain("more rows, in the step's `result` output");
    for (const block of text.split("\n\n")) {
      const rows = block.split("\n").filter((l) => l.startsWith("|"));
      for (const row of rows) expect(row.endsWith("|")).toBe(true);
      if (rows.length > 0) expect(rows[1]).toMatch(/^\| ---/);
    }
  });

  it("falls back to a one-line note under a tiny limit", () => {
    const text = renderSummary(
      { command: "x", ok: true, result: { a: "b".repeat(1000) }, database: [] },
      120,
    );
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(120);
    expect(text).toContain("would exceed GitHub's size limit");
  });

  it("shows the error of a failed step, escaped", () => {
    const text = renderSummary({
      command: "assign",
      ok: false,
      error: { code: "TaskNotFound", message: "unknown task <b>x</b>" },
      database: [],
    });
    expect(text).toContain("## orchestrator assign: ❌ failed");
    expect(text).toContain("> **TaskNotFound**: unknown task &lt;b&gt;x&lt;/b&gt;");
  });
});
