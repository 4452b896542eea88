// Fault injection: the demo plan run while orchestrator commands, agents and their supervisors
// are killed with SIGKILL at random moments, then one clean `run`; every guarantee is checked
// on the final state and on the event log. Each run is driven by a recorded seed.
//
//   CHAOS_RUNS=<n>   how many of the recorded seeds to run (default 2, the CI setting; 16 locally)
//   CHAOS_KILLS=<n>  SIGKILLs per run (default 10)
//   CHAOS_SEED=<n>[,<n>…]  replay these seeds (a failure prints the command)
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { type CliResult, cli, cliAsync } from "./helpers/cli.js";
import { DEMO_PLAN, demoRepo } from "./helpers/demo.js";
import { git } from "./helpers/git.js";
import { prng } from "./helpers/race.js";

const RECORDED_SEEDS = [
  7, 11, 23, 37, 41, 53, 67, 79, 83, 97, 101, 113, 127, 131, 149, 151,
] as const;
const RUNS = Number(process.env.CHAOS_RUNS ?? 2);
const KILLS = Number(process.env.CHAOS_KILLS ?? 10);
const SEEDS = process.env.CHAOS_SEED
  ? process.env.CHAOS_SEED.split(",").map(Number)
  : RECORDED_SEEDS.slice(0, RUNS);
const MAX_PARALLEL = 3;
const TASKS = 12;

const CONFIG = `integration_branch: roadmap
worktree_root: ../worktrees
agents:
  code_developer:
    command: ["node", "tools/demo-agent.mjs", "{title}"]
    max_instances: ${MAX_PARALLEL}
health:
  heartbeat: { warning: 10s, stalled: 30s }
  sample_interval: 500ms
  kill_grace: 1s
restart: { base: 200ms, max: 1s }
`;
const ENV = { DEMO_AGENT_SECONDS: "0.6" };

const leftovers: number[] = [];
afterEach(() => {
  for (const pid of leftovers.splice(0)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone already
    }
  }
});

// biome-ignore lint/suspicious/noExplicitAny: rows of several tables
type Row = any;

function query(repo: string, sql: string, ...params: unknown[]): Row[] {
  const file = join(repo, ".orchestrator", "orchestrator.db");
  if (!existsSync(file)) return [];
  const db = new Database(file, { readonly: true });
  try {
    db.pragma("busy_timeout = 10000");
    return db.prepare(sql).all(...params);
  } finally {
    db.close();
  }
}

/** One chaos run: what it did, in order, for the failure message. */
class Chaos {
  readonly actions: string[] = [];
  readonly crashes: string[] = [];
  kills = 0;
  private readonly random: () => number;

  constructor(
    readonly seed: number,
    readonly repo: string,
  ) {
    this.random = prng(seed);
  }

  pick<T>(items: readonly T[]): T | undefined {
    return items.length ? items[Math.floor(this.random() * items.length)] : undefined;
  }

  between(min: number, max: number): number {
    return Math.floor(min + this.random() * (max - min));
  }

  /** Runs the CLI and SIGKILLs it after `afterMs` if it is still running. */
  async killAfter(args: string[], afterMs: number): Promise<void> {
    const r = cliAsync(args, { cwd: this.repo, env: ENV });
    if (r.child.pid) leftovers.push(r.child.pid);
    const outcome = await Promise.race([r.done, sleep(afterMs).then(() => undefined)]);
    if (outcome) {
      this.actions.push(`${args.join(" ")} → exit ${outcome.status}`);
      // Refusals (typed errors) are fine in chaos; a crash or an internal error never is.
      if (outcome.status === 1 || outcome.status >= 128) {
        this.crashes.push(
          `${args.join(" ")} → exit ${outcome.status}: ${outcome.stderr.slice(-500)}`,
        );
      }
      return;
    }
    r.child.kill("SIGKILL");
    await r.done;
    this.kills++;
    this.actions.push(`${args.join(" ")} → SIGKILL after ${afterMs} ms`);
  }

  killPid(what: string, pid: number | null | undefined): void {
    if (!pid) return;
    try {
      process.kill(pid, "SIGKILL");
      this.kills++;
      this.actions.push(`SIGKILL ${what} (pid ${pid})`);
    } catch {
      this.actions.push(`${what} (pid ${pid}) was already gone`);
    }
  }

  tasks(status: string): string[] {
    return query(this.repo, "SELECT task_id FROM specs_task WHERE status = ?", status).map(
      (r) => r.task_id,
    );
  }

  /** One random fault. */
  async step(): Promise<void> {
    const r = this.random();
    if (r < 0.35) {
      const args = ["run", "--plan", DEMO_PLAN, "--max-parallel", String(MAX_PARALLEL), "--json"];
      await this.killAfter(args, this.between(300, 4000));
    } else if (r < 0.5) {
      const agent = this.pick(
        query(this.repo, "SELECT agent_id, pid FROM agent_lifecycle WHERE status = 'running'"),
      );
      if (agent) this.killPid(`agent ${agent.agent_id}`, agent.pid);
    } else if (r < 0.6) {
      const agent = this.pick(
        query(
          this.repo,
          "SELECT agent_id, supervisor_pid FROM agent_lifecycle WHERE status IN ('starting','running')",
        ),
      );
      if (agent) this.killPid(`supervisor of ${agent.agent_id}`, agent.supervisor_pid);
    } else {
      const review = this.pick(this.tasks("review"));
      const assigned = this.pick(this.tasks("assigned"));
      const commands: string[][] = [
        ["assign", "--max-parallel", String(MAX_PARALLEL)],
        ["agents", "health", "--auto-restart"],
        ["worktrees", "cleanup", "--merged"],
        ["worktrees", "list"],
        ["route", "poll", "--agent-type", "orchestrator", "--limit", "5"],
        ...(review ? [["worktrees", "merge", "--task-id", review]] : []),
        ...(assigned
          ? [
              ["worktrees", "create", "--task-id", assigned, "--reuse"],
              ["agents", "spawn", "--agent-type", "code_developer", "--task-id", assigned],
            ]
          : []),
      ];
      const command = this.pick(commands)!;
      await this.killAfter([...command, "--json"], this.between(0, 700));
    }
  }

  describe(): string {
    return [
      `chaos seed ${this.seed}: replay with CHAOS_SEED=${this.seed} CHAOS_KILLS=${KILLS} pnpm vitest run test/chaos.test.ts`,
      "last actions:",
      ...this.actions.slice(-60).map((a, i) => `  ${i + 1}. ${a}`),
    ].join("\n");
  }
}

/** Replays the event log: never more than MAX_PARALLEL tasks in flight, none taken twice. */
function checkSlots(repo: string): string[] {
  const problems: string[] = [];
  const inFlight = new Set<string>();
  const enter = new Set(["task_assigned", "task_reopened"]);
  const leave = new Set([
    "task_review",
    "task_completed",
    "task_failed",
    "task_conflict",
    "task_retried",
  ]);
  for (const e of query(repo, "SELECT id, kind, task_id FROM orchestrator_event ORDER BY id")) {
    if (enter.has(e.kind)) {
      if (inFlight.has(e.task_id)) problems.push(`event ${e.id}: ${e.task_id} taken twice`);
      inFlight.add(e.task_id);
      if (inFlight.size > MAX_PARALLEL) {
        problems.push(`event ${e.id}: ${inFlight.size} tasks hold slots > ${MAX_PARALLEL}`);
      }
    }
    if (leave.has(e.kind)) inFlight.delete(e.task_id);
  }
  return problems;
}

/** Every message is still deliverable, handled, or dead/expired with its sender told. */
function checkMessages(repo: string): string[] {
  const problems: string[] = [];
  const messages = query(repo, "SELECT * FROM agent_message ORDER BY id");
  for (const m of messages) {
    if (!["failed", "expired"].includes(m.status) || m.message_type === "error_notification") {
      continue;
    }
    const told = messages.some(
      (n) =>
        n.message_type === "error_notification" &&
        n.to_agent === m.from_agent &&
        n.content.includes(String(m.id)),
    );
    if (!told) problems.push(`message ${m.id} is ${m.status} and ${m.from_agent} was not told`);
  }
  return problems;
}

/** Git: every task's work on the integration branch once, by one merge; nothing left behind. */
function checkGit(repo: string, ids: readonly string[]): string[] {
  const problems: string[] = [];
  const subjects = git(repo, "log", "--format=%s", "roadmap").split("\n");
  const merges = git(repo, "log", "--first-parent", "--merges", "--format=%s", "roadmap").split(
    "\n",
  );
  for (const id of ids) {
    const work = subjects.filter((s) => s.startsWith(`task ${id}:`)).length;
    if (work !== 1) problems.push(`task ${id}'s commit is on roadmap ${work} times`);
    const merged = merges.filter((s) => s === `merge: complete ${id}`).length;
    if (merged !== 1) problems.push(`task ${id} was merged ${merged} times`);
  }
  const worktrees = git(repo, "worktree", "list", "--porcelain").match(/^worktree /gm) ?? [];
  if (worktrees.length !== 1) problems.push(`${worktrees.length - 1} worktrees left behind`);
  const branches = git(repo, "for-each-ref", "--format=%(refname)", "refs/heads/");
  if (branches.includes("roadmap-implementation_task-")) problems.push("task branches left");
  if (existsSync(join(repo, ".git", "MERGE_HEAD"))) problems.push("MERGE_HEAD left in the repo");
  const locks = findLocks(join(repo, ".git"));
  if (locks.length) problems.push(`git lock files left: ${locks.join(", ")}`);
  // No agent commit lost: a dangling commit of an agent is work no ref keeps.
  const fsck = execFileSync("git", ["fsck", "--no-reflogs", "--dangling"], {
    cwd: repo,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
  for (const line of fsck.split("\n")) {
    const commit = /^dangling commit ([0-9a-f]+)/.exec(line)?.[1];
    if (!commit) continue;
    const subject = git(repo, "log", "-1", "--format=%s", commit);
    if (subject.startsWith("task ")) problems.push(`agent commit ${commit} (${subject}) lost`);
  }
  return problems;
}

function findLocks(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && entry.name !== "objects") found.push(...findLocks(path));
    else if (entry.name.endsWith(".lock")) found.push(path);
  }
  return found;
}

async function finalRun(repo: string): Promise<CliResult> {
  const r = cliAsync(
    ["run", "--plan", DEMO_PLAN, "--max-parallel", String(MAX_PARALLEL), "--json"],
    {
      cwd: repo,
      env: ENV,
    },
  );
  if (r.child.pid) leftovers.push(r.child.pid);
  const done = await Promise.race([r.done, sleep(150_000).then(() => undefined)]);
  if (done) return done;
  r.child.kill("SIGKILL");
  return { ...(await r.done), status: -2 };
}

describe(`chaos: the demo plan under ${KILLS} SIGKILLs per run`, () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}`, async () => {
      const { repo } = demoRepo(CONFIG);
      const chaos = new Chaos(seed, repo);
      for (let step = 0; chaos.kills < KILLS && step < KILLS * 4; step++) await chaos.step();

      const final = await finalRun(repo);
      const why = chaos.describe();
      console.log(
        `chaos seed ${seed}: ${chaos.kills} SIGKILLs in ${chaos.actions.length} actions, then a clean run (exit ${final.status})`,
      );
      expect(
        final.status,
        `${why}\nfinal run: exit ${final.status}\n${final.stderr}${final.stdout.slice(-3000)}`,
      ).toBe(0);
      const statuses = query(repo, "SELECT status, count(*) AS n FROM specs_task GROUP BY status");
      expect(statuses, why).toEqual([{ status: "completed", n: TASKS }]);
      const ids = query(repo, "SELECT task_id FROM specs_task").map((r) => r.task_id);
      const live = query(
        repo,
        "SELECT agent_id FROM agent_lifecycle WHERE status IN ('starting','running')",
      );
      expect(live, why).toEqual([]);
      const problems = [
        ...chaos.crashes,
        ...checkSlots(repo),
        ...checkMessages(repo),
        ...checkGit(repo, ids),
      ];
      expect(problems, why).toEqual([]);
      // And the next command accepts the state as it is.
      expect(cli(["worktrees", "list", "--json"], { cwd: repo }).status, why).toBe(0);
      expect(cli(["agents", "health", "--json"], { cwd: repo }).status, why).toBe(0);
    }, 420_000);
  }
});
