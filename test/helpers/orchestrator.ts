import { join } from "node:path";
import {
  type Orchestrator,
  OrchestratorError,
  openOrchestrator,
  type Plan,
  parsePlan,
} from "@orchestrator/core";
import { afterEach } from "vitest";
import { tempDir } from "./tmp.js";

const opened: Orchestrator[] = [];

/** An orchestrator on a fresh database file in a temp dir, with a clock the test moves. */
export function testOrchestrator(
  start = 1_700_000_000_000,
): Orchestrator & { clock: { now: number } } {
  const dir = tempDir();
  const clock = { now: start };
  const o = openOrchestrator({ db: join(dir, "o.db"), repo: dir, cwd: dir, now: () => clock.now });
  opened.push(o);
  return Object.assign(o, { clock });
}

afterEach(() => {
  for (const o of opened.splice(0)) o.close();
});

/** A plan from a compact description: `{ id: [deps...] }` plus per-task overrides. */
export function plan(
  graph: Record<string, string[]>,
  overrides: Record<string, Record<string, unknown>> = {},
): Plan {
  return parsePlan(
    {
      tasks: Object.entries(graph).map(([id, deps]) => ({
        id,
        title: `Task ${id}`,
        depends_on: deps,
        ...overrides[id],
      })),
    },
    "test",
  );
}

/** Every row of every table, to prove that a refused command changed nothing. */
export function snapshot(o: Orchestrator): Record<string, unknown[]> {
  const tables = o.db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    .pluck()
    .all() as string[];
  return Object.fromEntries(tables.map((t) => [t, o.db.prepare(`SELECT * FROM "${t}"`).all()]));
}

/** The typed error `fn` throws; fails the test when it throws nothing or something else. */
export function refusal(fn: () => unknown): OrchestratorError {
  try {
    fn();
  } catch (error) {
    if (error instanceof OrchestratorError) return error;
    throw error;
  }
  throw new Error("expected an OrchestratorError");
}
