import {
  busyTimeoutFrom,
  describeError,
  type Orchestrator,
  type OrchestratorOptions,
  openOrchestrator,
  PLAIN,
  resolvePaths,
  type Style,
  safeJson,
  safeLines,
} from "@orchestrator/core";
import { DEFAULT_BUSY_TIMEOUT_MS } from "@orchestrator/db";
import type { Command } from "commander";
import pc from "picocolors";
import { type CliIo, ioOf, processIo } from "./io.js";

export interface GlobalOptions {
  db?: string;
  repo?: string;
  config?: string;
  json?: boolean;
}

export function globalOptions(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

export function contextOptions(globals: GlobalOptions): OrchestratorOptions {
  return {
    ...(globals.db !== undefined ? { db: globals.db } : {}),
    ...(globals.repo !== undefined ? { repo: globals.repo } : {}),
    ...(globals.config !== undefined ? { config: globals.config } : {}),
  };
}

const STATUS_COLOURS: Record<string, (t: string) => string> = {
  completed: pc.green,
  merged: pc.green,
  healthy: pc.green,
  ready: pc.bold,
  assigned: pc.cyan,
  in_progress: pc.cyan,
  running: pc.cyan,
  review: pc.magenta,
  blocked: pc.yellow,
  warning: pc.yellow,
  failed: pc.red,
  conflict: pc.red,
  stalled: pc.red,
  critical: pc.red,
  dead: pc.red,
};

export function terminalStyle(io: CliIo): Style {
  if (!io.isTTY || !pc.isColorSupported) return PLAIN;
  return {
    status: (text) => (STATUS_COLOURS[text.trim()] ?? ((t: string) => t))(text),
    dim: pc.dim,
    bold: pc.bold,
  };
}

/**
 * Prints one JSON document. C1 controls, bidi controls and line separators inside strings are
 * written as \u escapes (JSON.stringify escapes C0 itself): nothing in it acts on a terminal.
 */
export function printJson(document: unknown, io: CliIo = processIo()): void {
  io.document = document;
  io.stdout(`${safeJson(document)}\n`);
}

export function printError(
  command: string,
  error: unknown,
  json: boolean,
  dbFile?: string,
  io: CliIo = processIo(),
  busyTimeoutMs?: number,
): void {
  const e = describeError(error, dbFile, busyTimeoutMs);
  if (json) {
    printJson(
      {
        ok: false,
        command,
        error: { code: e.code, message: e.message, details: e.details },
      },
      io,
    );
  } else {
    io.stderr(`${safeLines(`orchestrator ${command}: ${e.code}: ${e.message}`)}\n`);
  }
  io.exitCode = e.exitCode;
}

/**
 * Runs one command against the orchestrator and prints its result: readable text, or with
 * --json exactly one JSON document. Errors become a typed report and an exit status.
 */
export async function execute<T>(
  command: string,
  cmd: Command,
  action: (o: Orchestrator) => T | Promise<T>,
  render: (result: T, style: Style) => string,
): Promise<void> {
  await executeWith(command, cmd, () => undefined, action, render);
}

/**
 * `execute` for a command whose input (a plan file, say) is read and validated by `input`
 * before the database is opened: input that is refused never creates a database.
 */
export async function executeWith<I, T>(
  command: string,
  cmd: Command,
  input: () => I,
  action: (o: Orchestrator, input: I) => T | Promise<T>,
  render: (result: T, style: Style) => string,
): Promise<void> {
  const globals = globalOptions(cmd);
  const io = ioOf(cmd);
  const options: OrchestratorOptions = {
    ...contextOptions(globals),
    ...(io.nativeBinding !== undefined ? { nativeBinding: io.nativeBinding } : {}),
    ...(io.env !== undefined ? { env: io.env } : {}),
    ...(io.cwd !== undefined ? { cwd: io.cwd } : {}),
  };
  let orchestrator: Orchestrator | undefined;
  try {
    const given = input();
    orchestrator = openOrchestrator(options);
    const result = await action(orchestrator, given);
    if (globals.json) printJson({ ok: true, command, result }, io);
    else io.stdout(`${render(result, terminalStyle(io))}\n`);
  } catch (error) {
    let busyTimeoutMs: number | undefined;
    try {
      busyTimeoutMs = busyTimeoutFrom(options) ?? DEFAULT_BUSY_TIMEOUT_MS;
    } catch {
      // An invalid value is the error being reported.
    }
    printError(
      command,
      error,
      globals.json ?? false,
      resolvePaths(options).dbPath,
      io,
      busyTimeoutMs,
    );
  } finally {
    orchestrator?.close();
  }
}
