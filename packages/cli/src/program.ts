import { safeLines } from "@orchestrator/core";
import { Command, CommanderError } from "commander";
import { registerAgents } from "./commands/agents.js";
import { registerAssign } from "./commands/assign.js";
import { registerInit } from "./commands/init.js";
import { registerRoute } from "./commands/route.js";
import { registerRun } from "./commands/run.js";
import { registerTasks } from "./commands/tasks.js";
import { registerWorktrees } from "./commands/worktrees.js";
import { attachIo, type CliIo, processIo } from "./io.js";
import { printJson } from "./output.js";

export const VERSION = "0.1.0";

export function buildProgram(): Command {
  const program = new Command("orchestrator")
    .description(
      "Coordinates many coding agents on one repository: a dependency-aware task graph in SQLite, one git worktree per task, supervised agents, durable messages.",
    )
    .version(VERSION)
    .option(
      "--db <path>",
      "database file (default: $ORCHESTRATOR_DB, then <repo>/.orchestrator/orchestrator.db)",
    )
    .option(
      "--repo <path>",
      "the git repository worked on (default: the one containing the current directory)",
    )
    .option(
      "--config <path>",
      "config file (default: <repo>/orchestrator.config.yaml when present)",
    )
    .option("--json", "print exactly one JSON document")
    .showHelpAfterError()
    .exitOverride();
  registerInit(program);
  registerTasks(program);
  registerAssign(program);
  registerRoute(program);
  registerAgents(program);
  registerWorktrees(program);
  registerRun(program);
  return program;
}

export interface RunOptions {
  /** Receives what the command prints on stdout; default: discarded (the document is returned). */
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  nativeBinding?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface RunResult {
  exitCode: number;
  /** The JSON document the command printed (with --json), or undefined. */
  document: unknown;
}

/**
 * Runs one command in this process, exactly as the binary would, with its output sent to the
 * given sink instead of the process's streams. The process's exit status is left alone.
 */
export async function runCli(
  argv: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const io: CliIo = {
    stdout: options.stdout ?? (() => {}),
    stderr: options.stderr ?? (() => {}),
    isTTY: false,
    exitCode: 0,
    ...(options.nativeBinding !== undefined ? { nativeBinding: options.nativeBinding } : {}),
    ...(options.env !== undefined ? { env: options.env } : {}),
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
  };
  await runProgram(argv, io);
  return { exitCode: io.exitCode, document: io.document };
}

/** The binary: the process's own streams and exit status. */
export async function main(argv: readonly string[]): Promise<void> {
  const io = processIo();
  await runProgram(argv, io);
  if (io.exitCode !== 0) process.exitCode = io.exitCode;
}

/** What the binary prints for a bug (an error no command reported): its stack, made safe. */
export function internalErrorText(error: unknown): string {
  return `${safeLines(`orchestrator: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)}\n`;
}

/** Usage mistakes (unknown option, missing argument) are InvalidInput, exit 2, like any bad input. */
async function runProgram(argv: readonly string[], io: CliIo): Promise<void> {
  const program = buildProgram();
  attachIo(program, io);
  const json = argv.includes("--json");
  program.configureOutput({
    writeOut: (text) => io.stdout(text),
    // Usage errors quote what was typed (an unknown option may hold escape sequences).
    writeErr: json ? () => {} : (text) => io.stderr(safeLines(text)),
  });
  for (const sub of program.commands) propagate(sub, program);
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    if (error.code === "commander.helpDisplayed" || error.code === "commander.version") return;
    if (error.code === "commander.help" || error.code === "commander.executeSubCommandAsync") {
      io.exitCode = error.exitCode;
      return;
    }
    if (json) {
      printJson(
        {
          ok: false,
          command: commandPath(program, argv),
          error: {
            code: "InvalidInput",
            message: error.message.replace(/^error: /, ""),
            details: { argv },
          },
        },
        io,
      );
    }
    io.exitCode = 2;
  }
}

/** "tasks import" from argv, by walking the known command names. */
function commandPath(program: Command, argv: readonly string[]): string {
  const path: string[] = [];
  let current = program;
  for (const word of argv) {
    const next = current.commands.find((c) => c.name() === word);
    if (!next) break;
    path.push(word);
    current = next;
  }
  return path.join(" ") || "orchestrator";
}

function propagate(cmd: Command, from: Command): void {
  cmd.exitOverride();
  cmd.configureOutput(from.configureOutput());
  for (const sub of cmd.commands) propagate(sub, cmd);
}
