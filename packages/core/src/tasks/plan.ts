import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { z } from "zod";
import { invalidInput, OrchestratorError } from "../errors.js";
import { requireValidIds } from "../ids.js";
import { requireWellFormed } from "../input.js";
import { parseYamlStrict } from "../yaml.js";

/** Largest plan file read, in bytes (64 MiB): a bigger one is refused before it is parsed. */
export const PLAN_MAX_BYTES = 64 * 1024 * 1024;
/** Most tasks in one plan. */
export const PLAN_MAX_TASKS = 100_000;

/** Statuses a plan may give a task: work not started, already done, or dropped. */
export const PLAN_STATUSES = ["pending", "completed", "cancelled"] as const;

const planTaskSchema = z.strictObject({
  id: z.string(),
  title: z.string().trim().min(1, "a task needs a title").max(2000),
  group: z.string().min(1).max(200).optional(),
  priority: z.number().int().min(-1_000_000).max(1_000_000).default(100),
  agent_type: z.string().optional(),
  depends_on: z.array(z.string()).default([]),
  files: z.array(z.string().min(1).max(1000)).optional(),
  status: z.enum(PLAN_STATUSES).optional(),
});

const planSchema = z.strictObject({ tasks: z.array(planTaskSchema) });

export type PlanTask = z.output<typeof planTaskSchema>;
export type Plan = z.output<typeof planSchema>;

/** Validates an already-parsed plan document, naming every problem by its path. */
export function parsePlan(document: unknown, source: string): Plan {
  const tasks = (document as { tasks?: unknown } | null)?.tasks;
  if (Array.isArray(tasks) && tasks.length > PLAN_MAX_TASKS) {
    throw invalidInput(
      `plan ${source} has ${tasks.length} tasks; the limit is ${PLAN_MAX_TASKS}. Split it into several plans and import them one after the other`,
      { file: source, tasks: tasks.length, limit: PLAN_MAX_TASKS },
    );
  }
  requireWellFormed(document, `plan ${source}`);
  const parsed = planSchema.safeParse(document);
  if (!parsed.success) {
    const problems = parsed.error.issues.slice(0, 20).map((issue) => {
      const path = issue.path.join(".") || "(top level)";
      return `${path}: ${issue.message}`;
    });
    const more =
      parsed.error.issues.length > problems.length
        ? `\n  … and ${parsed.error.issues.length - problems.length} more`
        : "";
    throw invalidInput(
      `plan ${source} is invalid (expected a document with a \`tasks:\` list):\n  ${problems.join("\n  ")}${more}`,
      { file: source, problems },
    );
  }
  return parsed.data;
}

/**
 * A plan file's text: at most PLAN_MAX_BYTES (read in bounded chunks, so a device or a file
 * still growing cannot exhaust memory either), and valid UTF-8.
 */
function readPlanText(file: string): string {
  const tooBig = (bytes: string) =>
    invalidInput(
      `plan ${file} is ${bytes} bytes; the limit is ${PLAN_MAX_BYTES} bytes (64 MiB). Split it into several plans`,
      { file, bytes, limit: PLAN_MAX_BYTES },
    );
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (error) {
    throw invalidInput(`cannot read plan ${file}: ${(error as Error).message}`, { file });
  }
  const chunks: Buffer[] = [];
  try {
    const size = fstatSync(fd).size;
    if (size > PLAN_MAX_BYTES) throw tooBig(String(size));
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(1 << 20, PLAN_MAX_BYTES + 1 - total));
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      total += n;
      if (total > PLAN_MAX_BYTES) throw tooBig(`more than ${PLAN_MAX_BYTES}`);
      chunks.push(chunk.subarray(0, n));
    }
  } catch (error) {
    if (error instanceof OrchestratorError) throw error;
    throw invalidInput(`cannot read plan ${file}: ${(error as Error).message}`, { file });
  } finally {
    closeSync(fd);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw invalidInput(`plan ${file} is not valid UTF-8 text; save it as UTF-8`, { file });
  }
}

/** Reads a plan file: JSON when it ends in .json, YAML otherwise (strictly: see parseYamlStrict). */
export function readPlanFile(file: string): Plan {
  const text = readPlanText(file);
  let document: unknown;
  if (file.endsWith(".json")) {
    try {
      document = JSON.parse(text);
    } catch (error) {
      throw invalidInput(`plan ${file} is not valid JSON: ${(error as Error).message}`, { file });
    }
  } else {
    document = parseYamlStrict(text, `plan ${file}`, file);
  }
  return parsePlan(document, file);
}

/**
 * What a plan must satisfy on its own, before any database is consulted: valid ids and agent
 * types, no duplicate ids, no task depending on itself.
 */
export function validatePlanShape(tasks: readonly PlanTask[]): void {
  requireValidIds(
    "task id",
    tasks.map((t) => t.id),
  );
  requireValidIds(
    "task id",
    tasks.flatMap((t) => t.depends_on),
  );
  requireValidIds(
    "agent type",
    tasks.flatMap((t) => (t.agent_type === undefined ? [] : [t.agent_type])),
  );
  const seen = new Set<string>();
  const duplicates = new Set<string>();
  for (const t of tasks) (seen.has(t.id) ? duplicates : seen).add(t.id);
  if (duplicates.size > 0) {
    throw invalidInput(
      `duplicate task id ${[...duplicates].map((id) => JSON.stringify(id)).join(", ")} in the plan; every id must be unique`,
      {
        duplicate_ids: [...duplicates],
      },
    );
  }
  const selfDependent = tasks.filter((t) => t.depends_on.includes(t.id)).map((t) => t.id);
  if (selfDependent.length > 0) {
    throw invalidInput(
      `task ${selfDependent.map((id) => JSON.stringify(id)).join(", ")} depends on itself; remove it from its own depends_on`,
      { task_ids: selfDependent },
    );
  }
}
