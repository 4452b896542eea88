import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { patternsMayOverlap } from "@orchestrator/core";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { type CliResult, cli, cliAsync } from "./helpers/cli.js";
import { tempDir } from "./helpers/tmp.js";

const MAX_PARALLEL = 3;
const ASSIGNERS = 8;
const TASKS = 36;

/** A plan with chains, shared blockers and overlapping file patterns. */
function writePlan(dir: string): string {
  const tasks = Array.from({ length: TASKS }, (_, i) => ({
    id: `t${i}`,
    title: `Task ${i}`,
    priority: i % 4,
    depends_on: i >= 6 && i % 3 === 0 ? [`t${i - 6}`] : [],
    ...(i % 5 === 0 ? { files: [`src/shared/${i % 2}/**`] } : {}),
    ...(i % 7 === 0 ? { files: ["src/shared/**"] } : {}),
  }));
  const file = join(dir, "plan.json");
  writeFileSync(file, JSON.stringify({ tasks }));
  return file;
}

describe("assign under concurrent processes", () => {
  it("never assigns a task twice, never exceeds max_parallel, never overlaps files in flight", async () => {
    const dir = tempDir();
    const db = join(dir, "o.db");
    expect(cli(["tasks", "import", writePlan(dir), "--db", db]).status).toBe(0);
    const reader = new Database(db, { readonly: true });
    const assignedNow = () =>
      reader
        .prepare("SELECT task_id FROM specs_task WHERE status = 'assigned' ORDER BY random()")
        .pluck()
        .all() as string[];
    const results: CliResult[] = [];

    for (let round = 0; round < 200; round++) {
      const finished = reader
        .prepare("SELECT count(*) FROM specs_task WHERE status = 'completed'")
        .pluck()
        .get();
      if (finished === TASKS) break;
      const runs = [
        ...Array.from({ length: ASSIGNERS }, () =>
          cliAsync(["assign", "--max-parallel", String(MAX_PARALLEL), "--json", "--db", db]),
        ),
        ...assignedNow()
          .slice(0, 2)
          .map((id) => cliAsync(["tasks", "complete", id, "--json", "--db", db])),
      ];
      results.push(...(await Promise.all(runs.map((r) => r.done))));
    }

    // Every process succeeded: no SQLITE_BUSY, no crash.
    for (const r of results) expect(r.json, r.stderr).toMatchObject({ ok: true });
    expect(
      reader.prepare("SELECT count(*) FROM specs_task WHERE status = 'completed'").pluck().get(),
    ).toBe(TASKS);

    // No task assigned twice.
    const perTask = reader
      .prepare("SELECT task_id, count(*) AS n FROM orchestrator_task GROUP BY task_id HAVING n > 1")
      .all();
    expect(perTask).toEqual([]);
    const assignedInResults = results.flatMap((r) =>
      r.json.command === "assign"
        ? r.json.result.assignments.map((a: { task_id: string }) => a.task_id)
        : [],
    );
    expect(new Set(assignedInResults).size).toBe(assignedInResults.length);
    expect(assignedInResults).toHaveLength(TASKS);

    // Replaying the event log in commit order: never more than MAX_PARALLEL running at once,
    // never two tasks with overlapping files in flight together.
    const files = new Map<string, string[]>();
    for (const row of reader.prepare("SELECT task_id, files FROM specs_task").all() as {
      task_id: string;
      files: string | null;
    }[]) {
      files.set(row.task_id, row.files ? JSON.parse(row.files) : []);
    }
    const inFlight = new Set<string>();
    let peak = 0;
    for (const e of reader
      .prepare("SELECT kind, task_id FROM orchestrator_event ORDER BY id")
      .all() as { kind: string; task_id: string }[]) {
      if (e.kind === "task_assigned") {
        for (const other of inFlight) {
          const clash = files
            .get(e.task_id)!
            .some((a) => files.get(other)!.some((b) => patternsMayOverlap(a, b)));
          expect(clash, `${e.task_id} started while ${other} was in flight`).toBe(false);
        }
        inFlight.add(e.task_id);
        peak = Math.max(peak, inFlight.size);
        expect(inFlight.size).toBeLessThanOrEqual(MAX_PARALLEL);
      }
      if (e.kind === "task_completed") inFlight.delete(e.task_id);
    }
    expect(peak).toBe(MAX_PARALLEL);
    reader.close();
  }, 180_000);
});
