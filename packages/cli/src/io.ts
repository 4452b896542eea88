import type { Command } from "commander";

/**
 * Where a command's output goes and what it runs with. The binary uses the process's own
 * streams; the GitHub Action runs the same program in-process with a sink of its own.
 */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Colours only on a terminal. */
  isTTY: boolean;
  /** better-sqlite3's native addon, for bundled entry points that ship it beside the bundle. */
  nativeBinding?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** The exit status the command asks for; 0 unless something failed. */
  exitCode: number;
  /** The last JSON document printed (with --json). */
  document?: unknown;
}

export function processIo(): CliIo {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    isTTY: process.stdout.isTTY === true,
    exitCode: 0,
  };
}

const attached = new WeakMap<Command, CliIo>();

export function attachIo(program: Command, io: CliIo): void {
  attached.set(program, io);
}

/** The io of the program a (sub)command belongs to; the process's own when none was attached. */
export function ioOf(cmd: Command): CliIo {
  let root: Command = cmd;
  while (root.parent) root = root.parent;
  let io = attached.get(root);
  if (!io) {
    io = processIo();
    attached.set(root, io);
  }
  return io;
}
