// `tasks import` from several processes at once onto one database: each plan lands whole or not
// at all, in some serial order. ORCHESTRATOR_RACE_PROCS sets how many good plans race.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { expect, it } from "vitest";
import { cli } from "./helpers/cli.js";
import { failures, RACE_PROCS, race } from "./helpers/race.js";
import { tempDir } from "./helpers/tmp.js";

const CHAIN = 40;

interface PlanTask {
  id: string;
  title: string;
  depends_on?: string[];
}

/** A chain of CHAIN tasks `<prefix>-0 … <prefix>-39`, and the shared task `hub` after its end. */
function chainPlan(prefix: string, options: { cycle?: boolean } = {}): PlanTask[] {
  const tasks: PlanTask[] = Array.from({ length: CHAIN }, (_, k) => ({
    id: `${prefix}-${k}`,
    title: `${prefix} ${k}`,
    depends_on: k > 0 ? [`${prefix}-${k - 1}`] : options.cycle ? [`${prefix}-${CHAIN - 1}`] : [],
  }));
  tasks.push({ id: "hub", title: `hub after ${prefix}`, depends_on: [`${prefix}-${CHAIN - 1}`] });
  return tasks;
}

it(`${RACE_PROCS} good plans and one with a cycle imported at once: each lands whole or not at all`, async () => {
  const dir = tempDir("orch-import-race-");
  const db = join(dir, "o.db");
  expect(cli(["init", "--db", db]).status).toBe(0);
  const prefixes = Array.from({ length: RACE_PROCS }, (_, i) => `p${i}`);
  const file = (name: string, tasks: PlanTask[]) => {
    const path = join(dir, `${name}.json`);
    writeFileSync(path, JSON.stringify({ tasks }));
    return path;
  };
  const good = prefixes.map((p) => [
    "tasks",
    "import",
    file(p, chainPlan(p)),
    "--db",
    db,
    "--json",
  ]);
  const bad = [
    "tasks",
    "import",
    file("bad", chainPlan("bad", { cycle: true })),
    "--db",
    db,
    "--json",
  ];
  const runs = await race([...good.slice(0, 1), bad, ...good.slice(1)]);

  const badRun = runs.find((r) => r.args === bad)!;
  expect(badRun.result.status, badRun.result.stdout).toBe(4);
  expect(badRun.result.json.error.code).toBe("DependencyCycle");
  expect(failures(runs.filter((r) => r.args !== bad))).toEqual([]);

  const conn = new Database(db, { readonly: true });
  try {
    const ids = conn.prepare("SELECT task_id FROM specs_task").pluck().all() as string[];
    expect(ids.filter((id) => id.startsWith("bad-"))).toEqual([]);
    expect(ids).toHaveLength(RACE_PROCS * CHAIN + 1);
    const edges = conn
      .prepare("SELECT blocking_task_id || '>' || dependent_task_id FROM specs_task_dependency")
      .pluck()
      .all() as string[];
    const expected = prefixes.flatMap((p) =>
      Array.from({ length: CHAIN - 1 }, (_, k) => `${p}-${k}>${p}-${k + 1}`),
    );
    expect(edges.filter((e) => !e.endsWith(">hub")).sort()).toEqual(expected.sort());

    // The shared task is the last writer's, title and dependency alike: no plan was interleaved.
    const hub = conn.prepare("SELECT title FROM specs_task WHERE task_id = 'hub'").pluck().get();
    const hubEdges = edges.filter((e) => e.endsWith(">hub"));
    expect(hubEdges).toHaveLength(1);
    expect(hub).toBe(`hub after ${hubEdges[0]!.split("-")[0]}`);

    // The blocker counts the triggers keep equal a recount from scratch.
    const drift = conn
      .prepare(
        `SELECT t.task_id FROM specs_task t
          WHERE t.unfinished_blockers <> (
            SELECT count(*) FROM specs_task_dependency d
              JOIN specs_task b ON b.task_id = d.blocking_task_id AND b.status <> 'completed'
             WHERE d.dependent_task_id = t.task_id)`,
      )
      .pluck()
      .all();
    expect(drift).toEqual([]);
  } finally {
    conn.close();
  }
  const list = cli(["tasks", "list", "--db", db, "--json"]);
  expect(list.status).toBe(0);
});
