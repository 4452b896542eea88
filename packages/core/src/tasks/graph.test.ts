import { describe, expect, it } from "vitest";
import { TaskGraph } from "./graph.js";

function graphOf(edges: [string, string][], nodes: string[] = []): TaskGraph {
  const g = new TaskGraph();
  for (const n of nodes) g.node(n);
  for (const [b, d] of edges) g.addEdge(b, d);
  return g;
}

/** Checks that each listed task really depends on the next one. */
function isRealCycle(g: TaskGraph, edges: [string, string][], cycle: string[]): boolean {
  const has = new Set(edges.map(([b, d]) => `${b}>${d}`));
  return (
    cycle[0] === cycle.at(-1) &&
    cycle.slice(0, -1).every((task, i) => has.has(`${cycle[i + 1]}>${task}`)) &&
    g.ids.length > 0
  );
}

describe("TaskGraph", () => {
  it("orders an acyclic graph blockers first", () => {
    const g = graphOf([
      ["a", "b"],
      ["b", "c"],
      ["a", "c"],
    ]);
    const order = g.topologicalOrder()!.map((i) => g.ids[i]);
    expect(order).toEqual(["a", "b", "c"]);
    expect(g.findCycle()).toBeUndefined();
  });

  it("finds a cycle as a path where each task depends on the next", () => {
    const edges: [string, string][] = [
      ["x", "a"],
      ["a", "b"],
      ["b", "c"],
      ["c", "a"],
      ["c", "tail"],
    ];
    const g = graphOf(edges);
    expect(g.topologicalOrder()).toBeUndefined();
    const cycle = g.findCycle()!;
    expect(new Set(cycle)).toEqual(new Set(["a", "b", "c"]));
    expect(isRealCycle(g, edges, cycle)).toBe(true);
  });

  it("handles a 200,000-task chain and a cycle at its far end without recursion", () => {
    const n = 200_000;
    const edges: [string, string][] = [];
    for (let i = 1; i < n; i++) edges.push([`t${i - 1}`, `t${i}`]);
    const acyclic = graphOf(edges);
    const order = acyclic.topologicalOrder()!;
    expect(order).toHaveLength(n);
    const lengths = acyclic.criticalPaths(order, () => false);
    expect(lengths[0]).toBe(n - 1);
    expect(lengths[n - 1]).toBe(0);

    edges.push([`t${n - 1}`, `t${n - 3}`]);
    const cyclic = graphOf(edges);
    const cycle = cyclic.findCycle()!;
    expect(cycle).toHaveLength(4);
    expect(isRealCycle(cyclic, edges, cycle)).toBe(true);
  });

  it("counts only unfinished tasks in the critical path", () => {
    const g = graphOf([
      ["a", "b"],
      ["b", "c"],
      ["a", "d"],
    ]);
    const order = g.topologicalOrder()!;
    const lengths = g.criticalPaths(order, (id) => id === "c");
    // c is finished, so the chain waiting on a is only b.
    expect(Object.fromEntries(g.ids.map((id, i) => [id, lengths[i]]))).toEqual({
      a: 1,
      b: 0,
      c: 0,
      d: 0,
    });
  });
});
