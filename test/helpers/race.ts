import { type CliResult, cliAsync } from "./cli.js";

/** How many processes race on one operation: small by default for a 2-core CI machine. */
export const RACE_PROCS = Math.max(2, Number(process.env.ORCHESTRATOR_RACE_PROCS ?? 6));

/** A seeded PRNG (mulberry32): the same seed gives the same moments. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Starts every command at once (each a real CLI process) and waits for all of them. */
export async function race(
  commands: readonly (readonly string[])[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ args: readonly string[]; result: CliResult }[]> {
  const started = commands.map((args) => ({ args, run: cliAsync(args, options) }));
  return Promise.all(started.map(async ({ args, run }) => ({ args, result: await run.done })));
}

/** The failed runs, described for an assertion message. */
export function failures(runs: { args: readonly string[]; result: CliResult }[]): string[] {
  return runs
    .filter((r) => r.result.status !== 0)
    .map(
      (r) => `${r.args.join(" ")} → exit ${r.result.status}: ${r.result.stderr || r.result.stdout}`,
    );
}
