import { performance } from "node:perf_hooks";

export interface Timing {
  median: number;
  p99: number;
  mean: number;
  runs: number;
}

/** Times fn `runs` times (after `warmup` untimed runs); figures in milliseconds. */
export function time(fn: () => unknown, runs = 200, warmup = 10): Timing {
  for (let i = 0; i < warmup; i++) fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fn();
    samples.push(performance.now() - start);
  }
  return summarize(samples);
}

export async function timeAsync(
  fn: () => Promise<unknown>,
  runs = 20,
  warmup = 2,
): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn();
    samples.push(performance.now() - start);
  }
  return summarize(samples);
}

export function summarize(samples: number[]): Timing {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return {
    median: at(0.5),
    p99: at(0.99),
    mean: sorted.reduce((s, x) => s + x, 0) / sorted.length,
    runs: sorted.length,
  };
}

const ms = (x: number) => (x < 1 ? `${(x * 1000).toFixed(0)} µs` : `${x.toFixed(2)} ms`);

/** One line: the figure, the baseline measured in the same run, and their ratio. */
export function report(
  name: string,
  ours: number,
  baseline: number,
  baselineName: string,
  unit: "ms" | "/s" = "ms",
): void {
  const show = (x: number) =>
    unit === "ms" ? ms(x) : `${Math.round(x).toLocaleString("en-US")}/s`;
  const ratio = unit === "ms" ? baseline / ours : ours / baseline;
  const verdict =
    ratio >= 1 ? `${ratio.toFixed(1)}x better` : `${(1 / ratio).toFixed(1)}x the baseline`;
  console.log(
    `${name.padEnd(58)} ${show(ours).padStart(12)}   ${baselineName}: ${show(baseline).padStart(12)}   ${verdict}`,
  );
}

export function line(name: string, figure: string): void {
  console.log(`${name.padEnd(58)} ${figure}`);
}
