import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { invalidInput } from "../errors.js";

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

/** Reads a plan file: JSON when it ends in .json, YAML otherwise. */
export function readPlanFile(file: string): Plan {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw invalidInput(`cannot read plan ${file}: ${(error as Error).message}`, { file });
  }
  let document: unknown;
  try {
    document = file.endsWith(".json") ? JSON.parse(text) : parseYaml(text, { maxAliasCount: 100 });
  } catch (error) {
    const kind = file.endsWith(".json") ? "JSON" : "YAML";
    throw invalidInput(`plan ${file} is not valid ${kind}: ${(error as Error).message}`, { file });
  }
  return parsePlan(document, file);
}
