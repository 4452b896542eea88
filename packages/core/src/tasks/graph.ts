import { OrchestratorError } from "../errors.js";

/**
 * An in-memory task graph over integer indices, for whole-graph checks (cycles, critical
 * paths). Every walk is iterative: the depth of a chain never meets a recursion limit.
 */
export class TaskGraph {
  private readonly index = new Map<string, number>();
  readonly ids: string[] = [];
  /** blockers[i]: the tasks i waits on. */
  private readonly blockers: number[][] = [];
  /** dependents[i]: the tasks waiting on i. */
  private readonly dependents: number[][] = [];

  node(id: string): number {
    let i = this.index.get(id);
    if (i === undefined) {
      i = this.ids.length;
      this.index.set(id, i);
      this.ids.push(id);
      this.blockers.push([]);
      this.dependents.push([]);
    }
    return i;
  }

  has(id: string): boolean {
    return this.index.has(id);
  }

  addEdge(blocking: string, dependent: string): void {
    const b = this.node(blocking);
    const d = this.node(dependent);
    this.blockers[d]!.push(b);
    this.dependents[b]!.push(d);
  }

  /** Blocking-before-dependent order, or undefined when the graph has a cycle (Kahn). */
  topologicalOrder(): number[] | undefined {
    const n = this.ids.length;
    const waiting = new Int32Array(n);
    for (let i = 0; i < n; i++) waiting[i] = this.blockers[i]!.length;
    const order: number[] = [];
    for (let i = 0; i < n; i++) if (waiting[i] === 0) order.push(i);
    for (let head = 0; head < order.length; head++) {
      for (const d of this.dependents[order[head]!]!) {
        if (--waiting[d]! === 0) order.push(d);
      }
    }
    return order.length === n ? order : undefined;
  }

  /**
   * One cycle as `[a, b, c, a]` where each task depends on the next, or undefined.
   * After Kahn's pass every task left over still waits on another left-over task, so walking
   * from one to a left-over blocker must come back to a task already seen: that loop is a cycle.
   */
  findCycle(): string[] | undefined {
    const n = this.ids.length;
    const waiting = new Int32Array(n);
    for (let i = 0; i < n; i++) waiting[i] = this.blockers[i]!.length;
    const queue: number[] = [];
    for (let i = 0; i < n; i++) if (waiting[i] === 0) queue.push(i);
    for (let head = 0; head < queue.length; head++) {
      for (const d of this.dependents[queue[head]!]!) {
        if (--waiting[d]! === 0) queue.push(d);
      }
    }
    if (queue.length === n) return undefined;
    let start = 0;
    while (waiting[start] === 0) start++;
    const seenAt = new Map<number, number>();
    const walk: number[] = [];
    let current = start;
    while (!seenAt.has(current)) {
      seenAt.set(current, walk.length);
      walk.push(current);
      current = this.blockers[current]!.find((b) => waiting[b]! > 0)!;
    }
    const loop = walk.slice(seenAt.get(current));
    loop.push(current);
    return loop.map((i) => this.ids[i]!);
  }

  /**
   * For each task, the length of the longest chain of unfinished tasks waiting on it
   * (0 when nothing waits). Needs an acyclic graph.
   */
  criticalPaths(order: readonly number[], finished: (id: string) => boolean): Int32Array {
    const length = new Int32Array(this.ids.length);
    for (let k = order.length - 1; k >= 0; k--) {
      const i = order[k]!;
      let longest = 0;
      for (const d of this.dependents[i]!) {
        if (!finished(this.ids[d]!)) longest = Math.max(longest, length[d]! + 1);
      }
      length[i] = longest;
    }
    return length;
  }
}

export function dependencyCycleError(cycle: readonly string[]): OrchestratorError {
  return new OrchestratorError(
    "DependencyCycle",
    `dependency cycle: ${cycle.join(" -> ")} (each task depends on the next); remove one of these dependencies`,
    { cycle },
  );
}
