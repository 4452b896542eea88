import { existsSync, readFileSync } from "node:fs";
import { z } from "zod";
import { invalidInput } from "./errors.js";
import { isValidId } from "./ids.js";
import { parseDuration, parseSize } from "./units.js";
import { parseYamlStrict } from "./yaml.js";

export const CONFIG_FILE_NAME = "orchestrator.config.yaml";

const duration = (fallback: string) =>
  z
    .union([z.string(), z.number().int().nonnegative()])
    .default(fallback)
    .transform((value, ctx) => {
      if (typeof value === "number") return value;
      const ms = parseDuration(value);
      if (ms === undefined) {
        ctx.addIssue({
          code: "custom",
          message: `"${value}" is not a duration; use a number with ms, s, m, h or d, e.g. "90s"`,
        });
        return z.NEVER;
      }
      return ms;
    });

const size = (fallback: string) =>
  z
    .union([z.string(), z.number().int().nonnegative()])
    .default(fallback)
    .transform((value, ctx) => {
      if (typeof value === "number") return value;
      const bytes = parseSize(value);
      if (bytes === undefined) {
        ctx.addIssue({
          code: "custom",
          message: `"${value}" is not a size; use a number with B, KiB, MiB or GiB, e.g. "1GiB"`,
        });
        return z.NEVER;
      }
      return bytes;
    });

const percent = (fallback: number) => z.number().min(0).max(100).default(fallback);

const agentName = z.string().refine(isValidId, {
  message: "an agent type is 1-64 letters, digits, '.', '_' or '-'",
});

const agentConfig = z.strictObject({
  command: z.array(z.string()).min(1, "command needs at least the program to run"),
  singleton: z.boolean().optional(),
  max_instances: z.number().int().min(1).optional(),
  env: z.record(z.string(), z.string()).default({}),
  /**
   * Where heartbeats come from. `process`: the supervisor beats while the agent process uses CPU
   * or writes output (a silent, idle process stalls). `agent`: only the agent's own
   * `orchestrator agents heartbeat` calls count.
   */
  heartbeat: z.enum(["process", "agent"]).default("process"),
});

export const configSchema = z.strictObject({
  integration_branch: z.string().min(1).default("roadmap"),
  worktree_root: z.string().min(1).default("../worktrees"),
  default_agent_type: agentName.default("code_developer"),
  agents: z.record(agentName, agentConfig).default({}),
  health: z
    .strictObject({
      heartbeat: z.strictObject({ warning: duration("2m"), stalled: duration("5m") }).prefault({}),
      cpu: z.strictObject({ warning: percent(80), critical: percent(95) }).prefault({}),
      memory: z.strictObject({ warning: size("1GiB"), critical: size("2GiB") }).prefault({}),
      /** How often a supervisor samples its agent's CPU and memory. */
      sample_interval: duration("5s"),
      /** How long `kill` (and a stalled agent's restart) waits after SIGTERM before SIGKILL. */
      kill_grace: duration("10s"),
    })
    .prefault({}),
  restart: z
    .strictObject({
      base: duration("1s"),
      factor: z.number().min(1).default(2),
      max: duration("5m"),
      reset_after: duration("10m"),
      crash_loop: z
        .strictObject({ restarts: z.number().int().min(1).default(5), within: duration("10m") })
        .prefault({}),
    })
    .prefault({}),
  messages: z
    .strictObject({
      ttl: duration("24h"),
      max_attempts: z.number().int().min(1).default(3),
      lease: duration("60s"),
      backoff_base: duration("1s"),
      backoff_max: duration("5m"),
    })
    .prefault({}),
});

export type Config = z.output<typeof configSchema>;
export type AgentConfig = z.output<typeof agentConfig>;

/** The agent type's policy with the design's defaults: singleton unless max_instances > 1. */
export function agentPolicy(config: Config, agentType: string) {
  const agent = config.agents[agentType];
  const maxInstances = agent?.max_instances ?? 1;
  return {
    configured: agent !== undefined,
    singleton: agent?.singleton ?? maxInstances === 1,
    maxInstances: agent?.singleton ? 1 : maxInstances,
  };
}

export function defaultConfig(): Config {
  return configSchema.parse({});
}

/**
 * Reads and validates the config file. A missing file at the default location means the
 * defaults; a missing file that was asked for by name is an error.
 */
export function loadConfig(file: string, explicit: boolean): Config {
  if (!existsSync(file)) {
    if (explicit) throw invalidInput(`config file ${file} does not exist`, { file });
    return defaultConfig();
  }
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw invalidInput(`cannot read config file ${file}: ${(error as Error).message}`, { file });
  }
  const raw = parseYamlStrict(text, `config file ${file}`, file) ?? {};
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join(".") || "(top level)"}: ${issue.message}`,
    );
    throw invalidInput(`config file ${file} is invalid:\n  ${problems.join("\n  ")}`, {
      file,
      problems,
    });
  }
  return parsed.data;
}
