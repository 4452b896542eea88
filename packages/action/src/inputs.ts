import type { Command, Option } from "commander";

/**
 * The action's own inputs. Every other input is a CLI option of the chosen command, by its long
 * name: `max-parallel: 3` → `--max-parallel=3`, `dry-run: true` → `--dry-run`.
 */
export const ACTION_INPUTS = [
  "command",
  "action",
  "args",
  "github-token",
  "db-artifact",
  "db-artifact-id",
  "init",
  "journal",
  "journal-key",
  "run-id",
  "retention-days",
  "max-db-size",
  "summary",
] as const;

/** CLI options the action sets itself: an input may not override them. */
const RESERVED_OPTIONS = new Set(["db", "json", "help", "version"]);

export class InputError extends Error {
  constructor(
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "InvalidInput";
  }
}

/**
 * The action's inputs as the runner passes them: `INPUT_<NAME>` with the name upper-cased and
 * spaces turned into underscores (hyphens are kept, e.g. `INPUT_MAX-PARALLEL`). Names come back
 * lower-cased; values are trimmed like @actions/core's getInput. Empty values count as not given.
 */
export function inputsFromEnv(env: NodeJS.ProcessEnv): Map<string, string> {
  const inputs = new Map<string, string>();
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith("INPUT_") || value === undefined) continue;
    const trimmed = value.trim();
    if (trimmed === "") continue;
    inputs.set(key.slice("INPUT_".length).toLowerCase().replace(/_/g, " "), trimmed);
  }
  return inputs;
}

/** YAML 1.2 core schema booleans, as @actions/core's getBooleanInput accepts them. */
export function parseBoolean(name: string, value: string | undefined, fallback = false): boolean {
  if (value === undefined || value === "") return fallback;
  if (["true", "True", "TRUE"].includes(value)) return true;
  if (["false", "False", "FALSE"].includes(value)) return false;
  throw new InputError(`input ${name} must be true or false, not ${JSON.stringify(value)}`, {
    input: name,
    value,
  });
}

export interface CommandLine {
  /** The command path, e.g. ["tasks", "complete"]. */
  path: string[];
  /** Options as `--name=value` or `--flag`. */
  options: string[];
  /** Positional arguments. */
  args: string[];
}

/**
 * The CLI's argv: the command path, its options, the given extra options (the action's --db and
 * --json), then "--" and the positional arguments, so an argument is never read as an option.
 */
export function toArgv(line: CommandLine, extra: readonly string[] = []): string[] {
  return [
    ...line.path,
    ...line.options,
    ...extra,
    ...(line.args.length > 0 ? ["--", ...line.args] : []),
  ];
}

/** The (sub)command named by `command` (may hold several words) and `action`. */
export function resolveCommand(program: Command, command: string, action?: string): Command[] {
  const words = [...command.split(/\s+/), ...(action ? action.split(/\s+/) : [])].filter(Boolean);
  if (words.length === 0) throw new InputError("input command is required");
  const chain: Command[] = [];
  let current = program;
  for (const word of words) {
    const next = current.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (!next) {
      const where = chain.length ? `\`${chain.map((c) => c.name()).join(" ")}\`` : "the CLI";
      throw new InputError(
        `unknown ${chain.length ? "action" : "command"} ${JSON.stringify(word)} for ${where}; expected one of: ${current.commands.map((c) => c.name()).join(", ")}`,
        { command, action: action ?? "" },
      );
    }
    chain.push(next);
    current = next;
  }
  if (current.commands.length > 0) {
    throw new InputError(
      `command \`${chain.map((c) => c.name()).join(" ")}\` needs an action (input action): one of ${current.commands.map((c) => c.name()).join(", ")}`,
      { command },
    );
  }
  return chain;
}

function optionName(option: Option): string | undefined {
  return option.long?.replace(/^--/, "");
}

/**
 * Builds the CLI's argv from the inputs, driven by the CLI's own option definitions: any input
 * named like an option of the chosen command (or a global option such as `config`) becomes that
 * option. An input that is neither the action's own nor such an option is refused, so a typo
 * never passes silently. New commands and options work through the action without changes here.
 */
export function commandLine(program: Command, inputs: ReadonlyMap<string, string>): CommandLine {
  const chain = resolveCommand(program, inputs.get("command") ?? "", inputs.get("action"));
  const target = chain[chain.length - 1]!;
  const options = new Map<string, Option>();
  for (const cmd of [program, ...chain]) {
    for (const option of cmd.options) {
      const name = optionName(option);
      if (name && !RESERVED_OPTIONS.has(name)) options.set(name, option);
    }
  }

  const path = chain.map((c) => c.name());
  const argv: string[] = [];
  const own = new Set<string>(ACTION_INPUTS);
  const unknown: string[] = [];
  for (const [name, value] of [...inputs].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (own.has(name)) continue;
    if (RESERVED_OPTIONS.has(name)) {
      throw new InputError(`input ${name} is set by the action itself and cannot be given`, {
        input: name,
      });
    }
    const option = options.get(name);
    if (!option) {
      unknown.push(name);
      continue;
    }
    if (option.isBoolean()) {
      if (parseBoolean(name, value)) argv.push(`--${name}`);
    } else {
      if (/[\r\n]/.test(value)) {
        throw new InputError(`input ${name} must be one line`, { input: name });
      }
      argv.push(`--${name}=${value}`);
    }
  }
  if (unknown.length > 0) {
    throw new InputError(
      `input${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")} ${unknown.length > 1 ? "are not options" : "is not an option"} of \`${path.join(" ")}\`; its options: ${[...options.keys()].sort().join(", ") || "(none)"}`,
      { unknown_inputs: unknown, options: [...options.keys()].sort() },
    );
  }

  const args = (inputs.get("args") ?? "")
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  const expected = target.registeredArguments;
  const required = expected.filter((a) => a.required).length;
  if (
    args.length < required ||
    (!expected.some((a) => a.variadic) && args.length > expected.length)
  ) {
    throw new InputError(
      `\`${path.join(" ")}\` takes ${expected.map((a) => `<${a.name()}>`).join(" ") || "no arguments"}; input args (one per line) gave ${args.length}`,
      { args },
    );
  }
  return { path, options: argv, args };
}
