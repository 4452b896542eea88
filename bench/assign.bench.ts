// Issue 2: the ready-set query and the whole assign transaction stay flat from 1k to 100k
// tasks (wide graph and one long chain), beside the seed's naive LEFT JOIN … GROUP BY query on
// the same database; plan import and cycle validation times; `assign --json` as a process
// beside a bare `node -e 0`.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import {
  assign,
  completeTask,
  importPlan,
  openOrchestrator,
  type Plan,
  TaskGraph,
} from "@orchestrator/core";
import { line, report, summarize, time } from "./lib.js";

const SEED_READY_QUERY = `
SELECT st.task_id
FROM specs_task st
LEFT JOIN specs_task_dependency std ON st.task_id = std.dependent_task_id
LEFT JOIN specs_task dep ON std.blocking_task_id = dep.task_id
WHERE st.status = 'pending'
  AND (dep.status = 'completed' OR dep.task_id IS NULL)
GROUP BY st.task_id
HAVING COUNT(CASE WHEN dep.status != 'completed' THEN 1 END) = 0`;

let seed = 7;
const random = () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
  return seed / 2 ** 31;
};

/** Ten layers; each task depends on two tasks of the layer before: ~1.8 edges per task. */
function widePlan(n: number): Plan {
  const layer = Math.ceil(n / 10);
  return {
    tasks: Array.from({ length: n }, (_, i) => {
      const l = Math.floor(i / layer);
      const prev = (l - 1) * layer;
      const deps =
        l === 0
          ? []
          : [
              ...new Set([
                prev + Math.floor(random() * layer),
                prev + Math.floor(random() * layer),
              ]),
            ];
      return {
        id: `w${i}`,
        title: `wide ${i}`,
        priority: 100,
        depends_on: deps.map((d) => `w${d}`),
      };
    }),
  };
}

/** One long chain; each task also depends on the one two back: ~2 edges per task. */
function chainPlan(n: number): Plan {
  return {
    tasks: Array.from({ length: n }, (_, i) => ({
      id: `c${i}`,
      title: `chain ${i}`,
      priority: 100,
      depends_on: i === 0 ? [] : i === 1 ? ["c0"] : [`c${i - 1}`, `c${i - 2}`],
    })),
  };
}

const CLI = join(import.meta.dirname, "..", "..", "packages", "cli", "dist", "orchestrator.js");

function processTime(args: string[], runs: number): number {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const r = spawnSync(process.execPath, args, { encoding: "utf8" });
    samples.push(performance.now() - start);
    if (r.status !== 0) throw new Error(`${args.join(" ")} failed: ${r.stderr}`);
  }
  return summarize(samples).median;
}

const dir = mkdtempSync(join(tmpdir(), "orch-bench-"));
try {
  for (const [shape, makePlan] of [
    ["wide", widePlan],
    ["chain", chainPlan],
  ] as const) {
    for (const n of [1_000, 10_000, 100_000]) {
      const file = join(dir, `${shape}-${n}.db`);
      const o = openOrchestrator({ db: file, repo: dir, cwd: dir });
      const plan = makePlan(n);
      const edges = plan.tasks.reduce((s, t) => s + t.depends_on.length, 0);
      const label = `${shape} ${n.toLocaleString("en-US")} tasks / ${edges.toLocaleString("en-US")} edges`;

      const importStart = performance.now();
      importPlan(o, plan);
      const importMs = performance.now() - importStart;

      const ids = o.tasks.summaries().map((s) => s.task_id);
      const allEdges = o.tasks.edges();
      const validate = time(
        () => {
          const g = new TaskGraph();
          for (const id of ids) g.node(id);
          for (const [b, d] of allEdges) g.addEdge(b, d);
          if (!g.topologicalOrder()) throw new Error("cycle");
        },
        5,
        1,
      );

      const ready = time(
        () => {
          let k = 0;
          for (const _ of o.tasks.ready()) if (++k === 10) break;
        },
        500,
        20,
      );
      const naiveRuns = n >= 100_000 ? 5 : 20;
      const naive = time(() => o.db.prepare(SEED_READY_QUERY).all(), naiveRuns, 1);

      // The whole assign transaction (writes included), then its tasks completed, 200 times.
      const samples: number[] = [];
      for (let round = 0; round < 200; round++) {
        const start = performance.now();
        const result = assign(o, { maxParallel: 3 });
        samples.push(performance.now() - start);
        for (const a of result.assignments) completeTask(o, a.task_id);
      }
      const assignTiming = summarize(samples);

      console.log(`-- ${label}`);
      line("tasks import (whole plan, one transaction)", `${(importMs / 1000).toFixed(2)} s`);
      if (n === 100_000) {
        // The same plan through the CLI, as a user runs it: read, parse, validate, import.
        const planFile = join(dir, `${shape}-${n}.json`);
        writeFileSync(planFile, JSON.stringify(plan));
        const cliImportMs = processTime(
          [CLI, "tasks", "import", planFile, "--db", join(dir, `${shape}-${n}-cli.db`), "--json"],
          1,
        );
        line(
          "`orchestrator tasks import plan.json` process",
          `${(cliImportMs / 1000).toFixed(2)} s`,
        );
      }
      line("full-graph cycle validation", `${validate.median.toFixed(1)} ms`);
      report("ready set (first 10, median)", ready.median, naive.median, "seed query");
      report("whole assign transaction (median)", assignTiming.median, naive.median, "seed query");
      line("whole assign transaction (p99)", `${assignTiming.p99.toFixed(3)} ms`);

      if (n === 100_000 && shape === "wide") {
        const cliMs = processTime(
          [CLI, "assign", "--json", "--max-parallel", "3", "--dry-run", "--db", file],
          15,
        );
        const bareMs = processTime(["-e", "0"], 15);
        report(
          "`orchestrator assign --json --dry-run` process (median)",
          cliMs,
          bareMs,
          "node -e 0",
        );
        const cliWrite = processTime(
          [CLI, "assign", "--json", "--max-parallel", "3", "--db", file],
          15,
        );
        report("`orchestrator assign --json` process (median)", cliWrite, bareMs, "node -e 0");
      }
      o.close();
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
