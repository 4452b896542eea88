import { describe, expect, it } from "vitest";
import {
  plan,
  refusal,
  snapshot,
  testOrchestrator,
} from "../../../../test/helpers/orchestrator.js";
import { completeTask, failTask, importPlan, listTasks, retryTask, showTask } from "./index.js";
import { parsePlan } from "./plan.js";

describe("importPlan", () => {
  it("loads tasks and edges, and a second import of the same plan changes nothing", () => {
    const o = testOrchestrator();
    const p = plan({ a: [], b: ["a"], c: ["a", "b"] });
    expect(importPlan(o, p)).toMatchObject({ imported: 3, updated: 0, edges: 3 });
    const before = snapshot(o);
    delete before.orchestrator_event;
    expect(importPlan(o, p)).toMatchObject({
      imported: 0,
      updated: 0,
      unchanged: 3,
      edges: 0,
      edges_removed: 0,
    });
    const after = snapshot(o);
    delete after.orchestrator_event;
    expect(after).toEqual(before);
  });

  it("updates definitions and edges of tasks not started, and keeps started ones as they are", () => {
    const o = testOrchestrator();
    importPlan(o, plan({ a: [], b: ["a"], c: ["a"] }));
    completeTask(o, "a");
    o.tasks.transition("c", ["pending"], "in_progress", o.now());
    const changed = plan(
      { a: [], b: [], c: [], d: ["b"] },
      { b: { title: "Renamed", priority: 1 }, c: { title: "Changed while running" } },
    );
    const result = importPlan(o, changed);
    expect(result).toMatchObject({ imported: 1, updated: 1, edges: 1, edges_removed: 1 });
    expect(result.skipped_started).toEqual(["c"]);
    expect(showTask(o, "b")).toMatchObject({ title: "Renamed", priority: 1, depends_on: [] });
    expect(showTask(o, "c")).toMatchObject({
      title: "Task c",
      depends_on: ["a"],
      status: "in_progress",
    });
    expect(showTask(o, "d").blocked_by).toEqual(["b"]);
  });

  it.each([
    ["an unknown dependency", plan({ a: ["ghost"] }), /unknown dependency: a -> ghost/],
    ["a self dependency", plan({ a: ["a"] }), /"a" depends on itself/],
    ["an invalid id", plan({ "../x": [] }), /invalid task id "\.\.\/x"/],
    ["a shell-looking id", plan({ "a;rm -rf": [] }), /invalid task id "a;rm -rf"/],
    ["an option-looking id", plan({ "--upload-pack=x": [] }), /invalid task id/],
    ["a cycle", plan({ a: ["c"], b: ["a"], c: ["b"], d: [] }), /dependency cycle: /],
  ])("refuses %s and leaves the database unchanged", (_name, bad, message) => {
    const o = testOrchestrator();
    importPlan(o, plan({ keep: [] }));
    const before = snapshot(o);
    const error = refusal(() => importPlan(o, bad));
    expect(error.message).toMatch(message);
    expect(snapshot(o)).toEqual(before);
  });

  it("refuses duplicate ids, naming them", () => {
    const o = testOrchestrator();
    const dup = parsePlan(
      {
        tasks: [
          { id: "a", title: "one" },
          { id: "a", title: "two" },
        ],
      },
      "t",
    );
    const error = refusal(() => importPlan(o, dup));
    expect(error.code).toBe("InvalidInput");
    expect(error.details).toEqual({ duplicate_ids: ["a"] });
    expect(listTasks(o).tasks).toEqual([]);
  });

  it("reports a cycle with its path, each task depending on the next", () => {
    const o = testOrchestrator();
    const error = refusal(() => importPlan(o, plan({ a: ["c"], b: ["a"], c: ["b"] })));
    expect(error.code).toBe("DependencyCycle");
    const cycle = error.details.cycle as string[];
    expect(cycle[0]).toBe(cycle.at(-1));
    expect(new Set(cycle)).toEqual(new Set(["a", "b", "c"]));
    expect(error.message).toContain(cycle.join(" -> "));
  });

  it("refuses a plan that would close a cycle through tasks already in the database", () => {
    const o = testOrchestrator();
    importPlan(o, plan({ a: [], b: ["a"] }));
    const before = snapshot(o);
    const error = refusal(() => importPlan(o, plan({ a: ["b"] })));
    expect(error.code).toBe("DependencyCycle");
    expect(snapshot(o)).toEqual(before);
  });

  it("finds one cycle deep inside a 10,000-task plan and writes nothing", () => {
    const o = testOrchestrator();
    const graph: Record<string, string[]> = {};
    for (let i = 0; i < 10_000; i++) graph[`t${i}`] = i === 0 ? [] : [`t${i - 1}`];
    graph.t5000 = ["t4999", "t7000"];
    const error = refusal(() => importPlan(o, plan(graph)));
    expect(error.code).toBe("DependencyCycle");
    expect((error.details.cycle as string[]).length).toBe(2002);
    expect(listTasks(o).tasks).toHaveLength(0);
  });

  it("orders tasks by the longest chain waiting on them", () => {
    const o = testOrchestrator();
    importPlan(o, plan({ a: [], b: ["a"], c: ["b"], x: [] }));
    expect(listTasks(o).tasks.map((t) => [t.id, t.critical_path])).toEqual([
      ["a", 2],
      ["b", 1],
      ["c", 0],
      ["x", 0],
    ]);
  });
});

/** The graph facts import writes, recomputed from scratch from the rows. */
function recomputedGraphFacts(o: ReturnType<typeof testOrchestrator>) {
  const rows = o.db.prepare("SELECT task_id, status FROM specs_task").all() as {
    task_id: string;
    status: string;
  }[];
  const status = new Map(rows.map((r) => [r.task_id, r.status]));
  const dependents = new Map<string, string[]>(rows.map((r) => [r.task_id, []]));
  const unfinished = new Map<string, number>(rows.map((r) => [r.task_id, 0]));
  for (const [b, d] of o.tasks.edges()) {
    dependents.get(b)!.push(d);
    if (status.get(b) !== "completed") unfinished.set(d, unfinished.get(d)! + 1);
  }
  const finished = (id: string) => ["completed", "cancelled"].includes(status.get(id)!);
  const memo = new Map<string, number>();
  const longest = (id: string): number => {
    if (!memo.has(id)) {
      const chains = dependents
        .get(id)!
        .filter((d) => !finished(d))
        .map((d) => longest(d) + 1);
      memo.set(id, Math.max(0, ...chains));
    }
    return memo.get(id)!;
  };
  const buckets: Record<string, number> = {};
  for (const r of rows) {
    const key = `${r.status}/${unfinished.get(r.task_id)! > 0 ? 1 : 0}`;
    buckets[key] = (buckets[key] ?? 0) + 1;
  }
  return {
    tasks: Object.fromEntries(
      rows.map((r) => [r.task_id, [unfinished.get(r.task_id), longest(r.task_id)]]),
    ),
    buckets,
  };
}

function storedGraphFacts(o: ReturnType<typeof testOrchestrator>) {
  const rows = o.db
    .prepare("SELECT task_id, unfinished_blockers, critical_path FROM specs_task")
    .all() as { task_id: string; unfinished_blockers: number; critical_path: number }[];
  const buckets: Record<string, number> = {};
  for (const c of o.tasks.counts()) buckets[`${c.status}/${c.blocked}`] = c.n;
  return {
    tasks: Object.fromEntries(
      rows.map((r) => [r.task_id, [r.unfinished_blockers, r.critical_path]]),
    ),
    buckets,
  };
}

describe("graph facts written by import", () => {
  it("match a recomputation from scratch across imports that mix new, done and changed tasks", () => {
    const o = testOrchestrator();
    let seed = 11;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const statuses = ["pending", "pending", "completed", "cancelled"] as const;
    const graph: Record<string, string[]> = {};
    const overrides: Record<string, Record<string, unknown>> = {};
    // Every edge runs from a lower rank to a higher one, so any rewiring stays acyclic.
    const rank = new Map<string, number>();
    const someBlockers = (id: string) => {
      const lower = [...rank.keys()].filter((other) => rank.get(other)! < rank.get(id)!);
      if (lower.length === 0) return [];
      return [...new Set([0, 1, 2].map(() => lower[Math.floor(random() * lower.length)]!))];
    };
    for (let round = 0; round < 3; round++) {
      const added = Array.from({ length: 120 }, (_, i) => `r${round}-${i}`);
      for (const id of added) {
        rank.set(id, random());
        overrides[id] = { status: statuses[Math.floor(random() * statuses.length)] };
      }
      // New tasks get blockers; a third of the older ones are rewired, some onto new tasks.
      for (const id of rank.keys()) {
        if (added.includes(id) || random() < 0.3) graph[id] = someBlockers(id);
      }
      if (round === 2) {
        // Completions between imports; the next import brings critical paths up to date.
        for (const t of [...o.tasks.ready()].slice(0, 5)) completeTask(o, t.task_id);
      }
      const result = importPlan(o, plan(graph, overrides));
      expect(result.imported).toBe(120);
      const { tasks, buckets } = recomputedGraphFacts(o);
      expect(storedGraphFacts(o)).toEqual({ tasks, buckets });
    }
    expect(Object.keys(storedGraphFacts(o).tasks)).toHaveLength(360);
  });
});

describe("task transitions", () => {
  it("complete unblocks dependents; fail and retry move through the allowed states", () => {
    const o = testOrchestrator();
    importPlan(o, plan({ a: [], b: ["a"] }));
    expect(completeTask(o, "a")).toMatchObject({ changed: true, unblocked: ["b"] });
    expect(completeTask(o, "a")).toMatchObject({ changed: false });
    expect(failTask(o, "b", "broken")).toMatchObject({
      status: "failed",
      previous_status: "pending",
    });
    expect(showTask(o, "b").explanation).toMatch(/failed: broken/);
    expect(retryTask(o, "b")).toMatchObject({ status: "pending" });
    expect(refusal(() => failTask(o, "a", null)).code).toBe("InvalidInput");
    expect(refusal(() => retryTask(o, "b")).code).toBe("InvalidInput");
    expect(refusal(() => completeTask(o, "nope")).code).toBe("TaskNotFound");
    expect(refusal(() => completeTask(o, "../etc")).code).toBe("InvalidInput");
  });
});
