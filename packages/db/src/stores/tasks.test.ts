import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { tempDir } from "../../../../test/helpers/tmp.js";
import { type Db, openDatabase, writeTransaction } from "../connection.js";
import { TASK_STATUSES, type TaskStatus, TaskStore } from "./tasks.js";

let db: Db;
let tasks: TaskStore;

function add(id: string, status: TaskStatus = "pending") {
  const definition = {
    task_id: id,
    title: id,
    priority_id: null,
    priority: 100,
    agent_type: "dev",
    files: null,
  };
  tasks.insert([{ definition, status, unfinishedBlockers: 0, criticalPath: 0 }], 1);
}

/** unfinished_blockers recomputed from scratch, to compare with what the triggers maintain. */
function recomputed(): Map<string, number> {
  const rows = db
    .prepare(
      `SELECT t.task_id, count(b.task_id) AS n FROM specs_task t
         LEFT JOIN specs_task_dependency d ON d.dependent_task_id = t.task_id
         LEFT JOIN specs_task b ON b.task_id = d.blocking_task_id AND b.status <> 'completed'
        GROUP BY t.task_id`,
    )
    .all() as { task_id: string; n: number }[];
  return new Map(rows.map((r) => [r.task_id, r.n]));
}

function maintained(): Map<string, number> {
  const rows = db.prepare("SELECT task_id, unfinished_blockers AS n FROM specs_task").all() as {
    task_id: string;
    n: number;
  }[];
  return new Map(rows.map((r) => [r.task_id, r.n]));
}

function countsByBucket(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of tasks.counts()) out[`${c.status}/${c.blocked}`] = c.n;
  return out;
}

function recomputedBuckets(): Record<string, number> {
  const rows = db
    .prepare(
      "SELECT status, unfinished_blockers > 0 AS blocked, count(*) AS n FROM specs_task GROUP BY 1, 2",
    )
    .all() as { status: string; blocked: number; n: number }[];
  return Object.fromEntries(rows.map((r) => [`${r.status}/${r.blocked}`, r.n]));
}

beforeEach(() => {
  db = openDatabase(join(tempDir(), "o.db"));
  tasks = new TaskStore(db);
});

describe("blocker counts maintained by triggers", () => {
  it("counts unfinished blockers as edges are added and blockers complete or reopen", () => {
    add("a");
    add("b");
    add("c", "completed");
    add("d");
    tasks.addDependencies([["a", "d"]]);
    tasks.addDependencies([["b", "d"]]);
    tasks.addDependencies([["c", "d"]]);
    expect(tasks.get("d")!.unfinished_blockers).toBe(2);
    expect([...tasks.ready()].map((t) => t.task_id)).toEqual(["a", "b"]);

    tasks.transition("a", ["pending"], "completed", 2);
    expect(tasks.get("d")!.unfinished_blockers).toBe(1);
    tasks.transition("b", ["pending"], "completed", 3);
    expect(tasks.get("d")!.unfinished_blockers).toBe(0);
    expect([...tasks.ready()].map((t) => t.task_id)).toEqual(["d"]);

    tasks.transition("b", ["completed"], "pending", 4);
    expect(tasks.get("d")!.unfinished_blockers).toBe(1);
    tasks.removeDependency("b", "d");
    expect(tasks.get("d")!.unfinished_blockers).toBe(0);
  });

  it("a self edge and an edge to an unknown task are rejected by the schema", () => {
    add("a");
    expect(() => tasks.addDependencies([["a", "a"]])).toThrow(/CHECK/);
    expect(() => tasks.addDependencies([["ghost", "a"]])).toThrow(/FOREIGN KEY/);
  });

  it("stays equal to a from-scratch count under a long random sequence of changes", () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const ids = Array.from({ length: 40 }, (_, i) => `t${i}`);
    writeTransaction(db, () => {
      for (const id of ids) add(id);
    });
    for (let step = 0; step < 2000; step++) {
      const i = Math.floor(random() * ids.length);
      const j = Math.floor(random() * ids.length);
      const op = random();
      if (op < 0.4 && i < j) tasks.addDependencies([[ids[i]!, ids[j]!]]);
      else if (op < 0.5) tasks.removeDependency(ids[i]!, ids[j]!);
      else {
        const to = TASK_STATUSES[Math.floor(random() * TASK_STATUSES.length)]!;
        const from = tasks.get(ids[i]!)!.status;
        tasks.transition(ids[i]!, [from], to, step);
      }
    }
    expect(maintained()).toEqual(recomputed());
    expect(countsByBucket()).toEqual(recomputedBuckets());
  });

  it("claimReady takes a task only while it is pending with no unfinished blocker", () => {
    add("a");
    add("b");
    tasks.addDependencies([["a", "b"]]);
    expect(tasks.claimReady("b", 1)).toBe(false);
    expect(tasks.claimReady("a", 1)).toBe(true);
    expect(tasks.claimReady("a", 1)).toBe(false);
    expect(tasks.get("a")).toMatchObject({ status: "assigned", attempts: 1 });
  });
});
