import { OrchestratorError } from "../errors.js";

/**
 * An in-memory task graph over integer indices, for whole-graph checks (cycles, critical
 * paths). Edges are kept as two flat integer arrays and turned into compressed adjacency
 * lists (CSR) when a walk needs them: a 100,000-task graph costs a few arrays, not 200,000
 * small ones. Every walk is iterative: the depth of a chain never meets a recursion limit.
 */
export class TaskGraph {
  private readonly index = new Map<string, number>();
  readonly ids: string[] = [];
  private from: Int32Array = new Int32Array(1024);
  private to: Int32Array = new Int32Array(1024);
  private edgeCount = 0;
  private adjacency: Adjacency | undefined;

  node(id: string): number {
    let i = this.index.get(id);
    if (i === undefined) {
      i = this.ids.length;
      this.index.set(id, i);
      this.ids.push(id);
      this.adjacency = undefined;
    }
    return i;
  }

  has(id: string): boolean {
    return this.index.has(id);
  }

  addEdge(blocking: string, dependent: string): void {
    const b = this.node(blocking);
    const d = this.node(dependent);
    if (this.edgeCount === this.from.length) {
      this.from = grow(this.from);
      this.to = grow(this.to);
    }
    this.from[this.edgeCount] = b;
    this.to[this.edgeCount] = d;
    this.edgeCount++;
    this.adjacency = undefined;
  }

  /** Blocking-before-dependent order, or undefined when the graph has a cycle (Kahn). */
  topologicalOrder(): number[] | undefined {
    const { order, waiting } = this.kahn();
    return order.length === waiting.length ? Array.from(order) : undefined;
  }

  /**
   * One cycle as `[a, b, c, a]` where each task depends on the next, or undefined.
   * After Kahn's pass every task left over still waits on another left-over task, so walking
   * from one to a left-over blocker must come back to a task already seen: that loop is a cycle.
   */
  findCycle(): string[] | undefined {
    const { order, waiting } = this.kahn();
    if (order.length === waiting.length) return undefined;
    const { blockerStart, blockers } = this.lists();
    let start = 0;
    while (waiting[start] === 0) start++;
    const seenAt = new Map<number, number>();
    const walk: number[] = [];
    let current = start;
    while (!seenAt.has(current)) {
      seenAt.set(current, walk.length);
      walk.push(current);
      let k = blockerStart[current]!;
      while (waiting[blockers[k]!] === 0) k++;
      current = blockers[k]!;
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
    const { dependentStart, dependents } = this.lists();
    const n = this.ids.length;
    const unfinished = new Uint8Array(n);
    for (let i = 0; i < n; i++) unfinished[i] = finished(this.ids[i]!) ? 0 : 1;
    const length = new Int32Array(n);
    for (let k = order.length - 1; k >= 0; k--) {
      const i = order[k]!;
      let longest = 0;
      for (let e = dependentStart[i]!; e < dependentStart[i + 1]!; e++) {
        const d = dependents[e]!;
        if (unfinished[d] && length[d]! + 1 > longest) longest = length[d]! + 1;
      }
      length[i] = longest;
    }
    return length;
  }

  /** Kahn's pass: the tasks it could order, and how many blockers each task still waits on. */
  private kahn(): { order: Int32Array; waiting: Int32Array } {
    const { blockerStart, dependentStart, dependents } = this.lists();
    const n = this.ids.length;
    const waiting = new Int32Array(n);
    const order = new Int32Array(n);
    let tail = 0;
    for (let i = 0; i < n; i++) {
      waiting[i] = blockerStart[i + 1]! - blockerStart[i]!;
      if (waiting[i] === 0) order[tail++] = i;
    }
    for (let head = 0; head < tail; head++) {
      const i = order[head]!;
      for (let e = dependentStart[i]!; e < dependentStart[i + 1]!; e++) {
        const d = dependents[e]!;
        if (--waiting[d]! === 0) order[tail++] = d;
      }
    }
    return { order: order.subarray(0, tail), waiting };
  }

  private lists(): Adjacency {
    this.adjacency ??= buildAdjacency(
      this.ids.length,
      this.from.subarray(0, this.edgeCount),
      this.to.subarray(0, this.edgeCount),
    );
    return this.adjacency;
  }
}

/** Both directions of the edges as CSR: node i's dependents are dependents[dependentStart[i] ..]. */
interface Adjacency {
  dependentStart: Int32Array;
  dependents: Int32Array;
  blockerStart: Int32Array;
  blockers: Int32Array;
}

function buildAdjacency(n: number, from: Int32Array, to: Int32Array): Adjacency {
  const [dependentStart, dependents] = csr(n, from, to);
  const [blockerStart, blockers] = csr(n, to, from);
  return { dependentStart, dependents, blockerStart, blockers };
}

/** Counting sort of the edges by `key`: start[i] .. start[i + 1] index i's values. */
function csr(n: number, key: Int32Array, value: Int32Array): [Int32Array, Int32Array] {
  const start = new Int32Array(n + 1);
  for (let e = 0; e < key.length; e++) start[key[e]! + 1]!++;
  for (let i = 0; i < n; i++) start[i + 1]! += start[i]!;
  const next = start.slice(0, n);
  const values = new Int32Array(key.length);
  for (let e = 0; e < key.length; e++) values[next[key[e]!]!++] = value[e]!;
  return [start, values];
}

function grow(array: Int32Array): Int32Array {
  const bigger = new Int32Array(array.length * 2);
  bigger.set(array);
  return bigger;
}

export function dependencyCycleError(cycle: readonly string[]): OrchestratorError {
  return new OrchestratorError(
    "DependencyCycle",
    `dependency cycle: ${cycle.join(" -> ")} (each task depends on the next); remove one of these dependencies`,
    { cycle },
  );
}
