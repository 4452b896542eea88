// `orchestrator run` end to end with the built CLI: the orchestrator's own cost per task on a
// plan of trivial tasks (each agent only commits), and the speed-up of parallel agents over
// the same agent commands run one after another without the orchestrator.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { line, report } from "./lib.js";

// Bundled into node_modules/.bench/ before it runs.
const CLI = join(import.meta.dirname, "..", "..", "packages", "cli", "dist", "orchestrator.js");
const TRIVIAL_TASKS = Number(process.env.BENCH_RUN_TASKS ?? 200);
const SLOW_TASKS = 24;
const SLOW_SECONDS = 1;
const PARALLEL = 4;

const git = (cwd: string, ...args: string[]) =>
  execFileSync("git", args, { cwd, encoding: "utf8" }).trim();

const COMMIT = 'git commit -q --allow-empty -m "task $ORCHESTRATOR_TASK_ID: done"';

function project(name: string, agent: string, tasks: number): string {
  const base = mkdtempSync(join(tmpdir(), `orch-bench-run-${name}-`));
  const repo = join(base, "repo");
  mkdirSync(repo);
  git(repo, "init", "-q", "-b", "main");
  git(repo, "config", "user.name", "Bench");
  git(repo, "config", "user.email", "bench@example.com");
  git(repo, "commit", "-q", "--allow-empty", "-m", "initial");
  writeFileSync(
    join(repo, "orchestrator.config.yaml"),
    `agents:\n  code_developer:\n    command: ["sh", "-c", ${JSON.stringify(agent)}]\n    max_instances: ${PARALLEL}\nhealth: { sample_interval: 1s }\n`,
  );
  writeFileSync(
    join(base, "plan.json"),
    JSON.stringify({
      tasks: Array.from({ length: tasks }, (_, i) => ({ id: `t${i}`, title: `task ${i}` })),
    }),
  );
  return base;
}

/** `orchestrator run` on the project; wall time in ms. */
function orchestrated(base: string): number {
  const start = performance.now();
  const r = spawnSync(
    process.execPath,
    [
      CLI,
      "run",
      "--plan",
      join(base, "plan.json"),
      "--max-parallel",
      String(PARALLEL),
      "--poll",
      "50ms",
      "--json",
    ],
    { cwd: join(base, "repo"), encoding: "utf8", maxBuffer: 256 * 1024 * 1024 },
  );
  const wall = performance.now() - start;
  const last = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
  if (r.status !== 0 || last.result?.outcome !== "completed") {
    throw new Error(`run failed (${r.status}): ${r.stderr}${r.stdout.slice(-2000)}`);
  }
  return wall;
}

/** The same agent command, once per task, one after another in one checkout; wall time in ms. */
function sequential(base: string, agent: string, tasks: number): number {
  const repo = join(base, "repo");
  const start = performance.now();
  for (let i = 0; i < tasks; i++) {
    execFileSync("sh", ["-c", agent], {
      cwd: repo,
      env: { ...process.env, ORCHESTRATOR_TASK_ID: `seq${i}` },
    });
  }
  return performance.now() - start;
}

const made: string[] = [];
try {
  const trivial = project("trivial", COMMIT, TRIVIAL_TASKS);
  made.push(trivial);
  const runWall = orchestrated(trivial);
  const seqWall = sequential(trivial, COMMIT, TRIVIAL_TASKS);
  line(
    "plan",
    `${TRIVIAL_TASKS} independent trivial tasks (the agent only commits), max-parallel ${PARALLEL}`,
  );
  report(
    "run: wall time per trivial task",
    runWall / TRIVIAL_TASKS,
    seqWall / TRIVIAL_TASKS,
    "the agent alone",
  );
  line(
    "run: orchestrator overhead per task (wall, beyond the agent)",
    `${((runWall - seqWall / PARALLEL) / TRIVIAL_TASKS).toFixed(1)} ms  (worktree, supervisor, merge, clean-up)`,
  );

  const slowAgent = `sleep ${SLOW_SECONDS}; ${COMMIT}`;
  const slow = project("slow", slowAgent, SLOW_TASKS);
  made.push(slow);
  const slowRun = orchestrated(slow);
  const slowSeq = sequential(slow, slowAgent, SLOW_TASKS);
  line("plan", `${SLOW_TASKS} independent ${SLOW_SECONDS}-second tasks, max-parallel ${PARALLEL}`);
  report("run: whole plan", slowRun, slowSeq, "one after another");
  line(
    "run: speed-up over one after another",
    `${(slowSeq / slowRun).toFixed(2)}x (ideal ${PARALLEL}x)`,
  );
} finally {
  for (const base of made) rmSync(base, { recursive: true, force: true });
}
