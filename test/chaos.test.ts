// Fault injection: the demo plan runs while `orchestrator run`, one-shot commands, agents and
// their supervisors are killed with SIGKILL at moments chosen by a seeded PRNG; then one clean
// `run` must finish, and every guarantee of the README is checked on the final state and the
// events log. CHAOS_RUNS (default 2: the first recorded seeds), CHAOS_KILLS (default 10 per run),
// CHAOS_SEED (replay one seed). A failure prints its seed, the replay command and the last actions.
import type { ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { type CliResult, cliAsync, ROOT } from "./helpers/cli.js";
import { DEMO_PLAN, demoRepo } from "./helpers/demo.js";
import { git } from "./helpers/git.js";
import { prng as mulberry32 } from "./helpers/race.js";

/** Recorded seeds: CI takes the first CHAOS_RUNS, a local run may take all (CHAOS_RUNS=16). */
const SEEDS = [7, 11, 23, 42, 101, 137, 256, 314, 512, 777, 1009, 2024, 4096, 8191, 31337, 65537];
const RUNS = Number(process.env.CHAOS_RUNS ?? "2");
const KILLS = Number(process.env.CHAOS_KILLS ?? "10");
const SEED = process.env.CHAOS_SEED;
const MAX_PARALLEL = 3;
const FINAL_RUN_MS = 60_000;

const CONFIG = `integration_branch: roadmap
worktree_root: ../worktrees
agents:
  code_developer:
    command: ["node", "tools/chaos-agent.mjs"]
    max_instances: 3
  architect:
    command: ["node", "tools/chaos-agent.mjs"]
    singleton: true
health:
  heartbeat: { warning: 5s, stalled: 20s }
  sample_interval: 300ms
  kill_grace: 1s
restart: { base: 200ms, max: 1s, crash_loop: { restarts: 100, within: 10m } }
messages: { ttl: 1h, max_attempts: 2, lease: 1s, backoff_base: 100ms, backoff_max: 500ms }
`;
const MAX_INSTANCES: Record<string, number> = { code_developer: 3, architect: 1 };
/** Two independent tasks of the singleton type: both are ready at once. */
const ARCHITECT_TASKS = ["docs-outline", "ci-config"];

class ChaosFailure extends Error {}

interface Env {
  base: string;
  repo: string;
  db: string;
  env: NodeJS.ProcessEnv;
  actions: string[];
}

function setUp(rng: () => number): Env {
  const { base, repo } = demoRepo(CONFIG);
  copyFileSync(
    join(ROOT, "test", "fixtures", "chaos-agent.mjs"),
    join(repo, "tools", "chaos-agent.mjs"),
  );
  git(repo, "add", "-A");
  git(repo, "commit", "-q", "-m", "the chaos agent");
  const plan = readFileSync(DEMO_PLAN, "utf8")
    .replaceAll("    agent_type: code_developer\n", "")
    .replace(
      new RegExp(`(  - id: (${ARCHITECT_TASKS.join("|")})\\n)`, "g"),
      "$1    agent_type: architect\n",
    );
  writeFileSync(join(base, "plan.yaml"), plan);
  const tasks = [...plan.matchAll(/- id: (\S+)/g)].map((m) => m[1]!);
  const failTasks = tasks.filter(() => rng() < 0.25);
  return {
    base,
    repo,
    db: join(base, "orchestrator.db"),
    env: {
      CHAOS_DIR: base,
      CHAOS_FAIL_TASKS: failTasks.join(","),
      CHAOS_AGENT_MS: "50",
      ORCHESTRATOR_DB: "",
    },
    actions: [],
  };
}

function start(e: Env, args: string[]): { child: ChildProcess; done: Promise<CliResult> } {
  return cliAsync([...args, "--db", e.db, "--repo", e.repo, "--json"], {
    cwd: e.repo,
    env: e.env,
  });
}

/** Acknowledges every polled message, in parallel. */
async function acknowledgeAll(
  e: Env,
  messages: readonly { message_id: number; receipt: string }[],
): Promise<void> {
  await Promise.all(
    messages.map(
      (m) =>
        start(e, [
          "route",
          "acknowledge",
          "--message-id",
          String(m.message_id),
          "--receipt",
          m.receipt,
        ]).done,
    ),
  );
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function parseJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

/** A second run refused because another is alive: exit 5 naming the other run. */
function isRunRefusal(r: CliResult): boolean {
  return r.status === 5 && r.stdout.includes("another orchestrator run");
}

/** One seeded run: chaos, a clean final run, the checks. Returns the number of kills made. */
async function chaosRun(seed: number, kills: number): Promise<{ kills: number; ms: number }> {
  const began = Date.now();
  const rng = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;
  const e = setUp(rng);
  const log = (s: string) => e.actions.push(`${((Date.now() - began) / 1000).toFixed(2)}s ${s}`);
  const db = () => new Database(e.db, { readonly: true, fileMustExist: true });
  const violations: string[] = [];

  // The first run imports the plan; it may be killed like any other.
  let runProc: { child: ChildProcess; done: Promise<CliResult>; exited: boolean } | undefined;
  const startRun = (withPlan: boolean) => {
    const p = start(e, [
      "run",
      ...(withPlan ? ["--plan", join(e.base, "plan.yaml")] : []),
      "--max-parallel",
      String(MAX_PARALLEL),
    ]);
    const proc = { ...p, exited: false };
    void p.done.then(() => (proc.exited = true));
    return proc;
  };
  let imported = false;
  const sampler = setInterval(() => {
    if (!existsSync(e.db)) return;
    try {
      const d = db();
      try {
        for (const r of d
          .prepare(
            "SELECT agent_type, count(*) AS n FROM agent_lifecycle WHERE status IN ('starting','running') GROUP BY agent_type",
          )
          .all() as { agent_type: string; n: number }[]) {
          if (r.n > (MAX_INSTANCES[r.agent_type] ?? 1))
            violations.push(`${r.n} live ${r.agent_type} agents > max_instances`);
        }
      } finally {
        d.close();
      }
    } catch {
      // the database is being created or migrated
    }
  }, 100);

  let made = 0;
  try {
    for (let step = 0; made < kills && step < kills * 6; step++) {
      const roll = rng();
      if (!imported || roll < 0.3) {
        // A run, killed after a while; sometimes a second run meanwhile, which must refuse.
        if (!runProc || runProc.exited) runProc = startRun(!imported);
        log(`run (pid ${runProc.child.pid})${imported ? "" : " --plan"}`);
        await sleep(300 + rng() * 2500);
        if (rng() < 0.3 && !runProc.exited) {
          const second = start(e, ["run", "--max-parallel", String(MAX_PARALLEL)]);
          const r = await second.done;
          log(`second run: exit ${r.status}`);
          if (!runProc.exited && !isRunRefusal(r))
            violations.push(
              `a second run while the first lives exited ${r.status}, not 5: ${r.stderr.slice(0, 300)}`,
            );
        }
        if (!runProc.exited) {
          runProc.child.kill("SIGKILL");
          made++;
          log(`SIGKILL run (pid ${runProc.child.pid})`);
        }
        const ran = await runProc.done;
        if (ran.status !== 128) {
          log(`run: exit ${ran.status} ${ran.stderr.slice(-300)}`);
          // Only another live run may refuse it; anything else means it did not accept the state.
          if (ran.status !== 0 && !isRunRefusal(ran))
            throw new ChaosFailure(`run exited ${ran.status}: ${ran.stderr.slice(-1500)}`);
        }
        if (existsSync(e.db)) {
          const d = db();
          try {
            imported = (d.prepare("SELECT count(*) FROM specs_task").pluck().get() as number) > 0;
          } catch {
            imported = false;
          } finally {
            d.close();
          }
        }
        continue;
      }
      if (roll < 0.5) {
        // An agent or its supervisor.
        const d = db();
        const live = d
          .prepare(
            "SELECT agent_id, pid, supervisor_pid FROM agent_lifecycle WHERE status IN ('starting','running')",
          )
          .all() as { agent_id: string; pid: number | null; supervisor_pid: number | null }[];
        d.close();
        if (live.length === 0) continue;
        const a = pick(live);
        const which = rng() < 0.6 ? "agent" : "supervisor";
        const pid = which === "agent" ? a.pid : a.supervisor_pid;
        if (pid && alive(pid)) {
          process.kill(pid, "SIGKILL");
          made++;
          log(`SIGKILL ${which} of ${a.agent_id} (pid ${pid})`);
        }
        continue;
      }
      // A one-shot command, killed at a random moment (or let finish).
      const d = db();
      const byStatus = (s: string) =>
        d.prepare("SELECT task_id FROM specs_task WHERE status = ?").pluck().all(s) as string[];
      const review = byStatus("review");
      const assigned = byStatus("assigned");
      const agentTypes = d.prepare("SELECT agent_type FROM specs_task WHERE task_id = ?").pluck();
      const options: string[][] = [
        ["assign", "--max-parallel", String(MAX_PARALLEL)],
        ["agents", "health", "--auto-restart"],
        ["worktrees", "cleanup", "--merged"],
        ["worktrees", "list"],
        ["route", "poll", "--target", "orchestrator", "--lease", "1s"],
        ["route", "poll", "--target", "code_developer", "--lease", "1s"],
      ];
      if (review.length) options.push(["worktrees", "merge", "--task-id", pick(review)]);
      if (assigned.length) {
        const t = pick(assigned);
        options.push([
          "agents",
          "spawn",
          "--agent-type",
          agentTypes.get(t) as string,
          "--task-id",
          t,
        ]);
      }
      d.close();
      const args = pick(options);
      const p = start(e, args);
      const delay = rng() * 600;
      const timer = setTimeout(() => {
        if (p.child.exitCode === null && p.child.signalCode === null) {
          p.child.kill("SIGKILL");
          made++;
          log(`SIGKILL ${args.join(" ")} after ${delay.toFixed(0)}ms`);
        }
      }, delay);
      const r = await p.done;
      clearTimeout(timer);
      if (r.status !== 128) {
        log(
          `${args.join(" ")}: exit ${r.status}${r.status === 0 ? "" : ` ${r.json?.error?.code}: ${r.json?.error?.message ?? r.stderr.slice(0, 200)}`}`,
        );
        // Internal errors mean a command did not accept the state a kill left.
        if (
          r.status !== 0 &&
          !["SingletonViolation", "InvalidInput", "WorktreeExists"].includes(r.json?.error?.code)
        )
          violations.push(
            `${args.join(" ")} exited ${r.status}: ${r.json?.error?.message ?? r.stderr.slice(0, 300)}`,
          );
      }
      // Messages received by the poll are acknowledged only sometimes: the rest are redelivered or dead-lettered.
      if (args[0] === "route" && r.status === 0 && rng() < 0.5) {
        await acknowledgeAll(e, r.json.result.messages);
      }
    }
    if (runProc && !runProc.exited) {
      runProc.child.kill("SIGKILL");
      made++;
      log(`SIGKILL run (pid ${runProc.child.pid})`);
      await runProc.done;
    }

    // The clean final run must accept whatever state the kills left, and finish.
    log("final run");
    const final = startRun(!imported);
    const timeout = setTimeout(() => final.child.kill("SIGKILL"), FINAL_RUN_MS);
    const r = await final.done;
    clearTimeout(timeout);
    for (const line of r.stdout.split("\n")) {
      const ev = (parseJson(line) as { event?: { at: number; kind: string; message: string } })
        ?.event;
      if (ev)
        e.actions.push(
          `${((ev.at - began) / 1000).toFixed(2)}s   final run: ${ev.kind} ${ev.message}`,
        );
    }
    log(`final run: exit ${r.status}`);
    if (process.env.CHAOS_VERBOSE) console.log(e.actions.join("\n"));
    if (r.status !== 0) {
      throw new ChaosFailure(
        `the final run exited ${r.status} (not completed): ${r.stderr.slice(-1500)}\n${r.stdout.split("\n").slice(-30).join("\n")}`,
      );
    }
    clearInterval(sampler);
    if (violations.length) throw new ChaosFailure(violations.join("\n"));
    await drainMessages(e, log);
    checkFinalState(e);
    return { kills: made, ms: Date.now() - began };
  } catch (error) {
    const message = (error as Error).stack ?? String(error);
    throw new ChaosFailure(
      `chaos seed ${seed} failed: ${message}\n` +
        `replay: CHAOS_SEED=${seed} CHAOS_KILLS=${kills} pnpm vitest run test/chaos.test.ts\n` +
        `last actions:\n  ${e.actions.slice(-60).join("\n  ")}`,
    );
  } finally {
    clearInterval(sampler);
    if (runProc && !runProc.exited) runProc.child.kill("SIGKILL");
    killLeftovers(e);
  }
}

/** Receivers acknowledge whatever is still waiting, until every message has an end. */
async function drainMessages(e: Env, log: (s: string) => void): Promise<void> {
  // Generous: on a loaded machine each acknowledgement is a process start of a second or more.
  const deadline = Date.now() + 90_000;
  for (;;) {
    const d = new Database(e.db, { readonly: true });
    const open = d
      .prepare(
        "SELECT DISTINCT to_agent FROM agent_message WHERE status IN ('pending','delivered') AND message_type <> 'error_notification' AND to_kind = 'type'",
      )
      .pluck()
      .all() as string[];
    d.close();
    if (open.length === 0) return;
    if (Date.now() > deadline) throw new ChaosFailure(`messages to ${open.join(", ")} never ended`);
    for (const target of open) {
      const r = await start(e, [
        "route",
        "poll",
        "--target",
        target,
        "--limit",
        "100",
        "--lease",
        "5s",
      ]).done;
      if (r.status !== 0) throw new ChaosFailure(`route poll --target ${target}: ${r.stderr}`);
      await acknowledgeAll(e, r.json.result.messages);
      log(`drained ${r.json.result.messages.length} message(s) for ${target}`);
    }
    await sleep(200);
  }
}

function checkFinalState(e: Env): void {
  const d = new Database(e.db, { readonly: true });
  const problems: string[] = [];
  try {
    // Every task completed, merged exactly once into the integration branch.
    const tasks = d.prepare("SELECT task_id, status FROM specs_task").all() as {
      task_id: string;
      status: string;
    }[];
    for (const t of tasks)
      if (t.status !== "completed") problems.push(`task ${t.task_id} is ${t.status}`);
    const subjects = git(e.repo, "log", "roadmap", "--format=%s").split("\n");
    for (const t of tasks) {
      const merges = subjects.filter((s) => s === `merge: complete ${t.task_id}`).length;
      const commits = subjects.filter((s) => s.startsWith(`task ${t.task_id}: `)).length;
      if (merges !== 1) problems.push(`task ${t.task_id} was merged ${merges} times`);
      if (commits !== 1) problems.push(`task ${t.task_id} has ${commits} commits on roadmap`);
    }
    // No agent commit lost: each is reachable from a ref (roadmap, or a set-aside attempt).
    const commitsFile = join(e.base, "commits.txt");
    const recorded = existsSync(commitsFile)
      ? readFileSync(commitsFile, "utf8").trim().split("\n").filter(Boolean)
      : [];
    for (const line of recorded) {
      const [task, sha] = line.split(" ");
      const refs = git(e.repo, "for-each-ref", "--contains", sha!, "--format=%(refname)");
      if (!refs) problems.push(`commit ${sha} of task ${task} is on no ref: lost`);
    }
    git(e.repo, "fsck", "--no-dangling");
    // Replay the events: a task assigned once at a time, never more than max-parallel slots held.
    const events = d
      .prepare("SELECT id, kind, task_id, agent_id, detail FROM orchestrator_event ORDER BY id")
      .all() as { id: number; kind: string; task_id: string | null; agent_id: string | null }[];
    const holding = new Set<string>();
    for (const ev of events) {
      const t = ev.task_id;
      if (ev.kind === "task_assigned" && t) {
        if (holding.has(t))
          problems.push(`event ${ev.id}: task ${t} assigned while it holds a slot`);
        holding.add(t);
      }
      if (["task_reopened"].includes(ev.kind) && t) holding.add(t);
      if (
        ["task_review", "task_completed", "task_conflict", "task_retried", "crash_loop"].includes(
          ev.kind,
        ) &&
        t
      )
        holding.delete(t);
      if (holding.size > MAX_PARALLEL)
        problems.push(
          `event ${ev.id} (${ev.kind} ${t}): ${holding.size} tasks hold slots > ${MAX_PARALLEL}: ${[...holding].join(", ")}`,
        );
    }
    // One live agent per task and max_instances, now: nothing is left running.
    const live = d
      .prepare("SELECT agent_id, pid FROM agent_lifecycle WHERE status IN ('starting','running')")
      .all();
    if (live.length) problems.push(`agents still live after the run: ${JSON.stringify(live)}`);
    // Messages: each acknowledged, dead-lettered or expired; the sender told of the last two.
    const messages = d
      .prepare("SELECT id, from_agent, status, message_type FROM agent_message")
      .all() as { id: number; from_agent: string; status: string; message_type: string }[];
    const told = new Set(
      messages
        .filter((m) => m.message_type === "error_notification")
        .map((m) => {
          const c = JSON.parse(
            (d
              .prepare("SELECT content FROM agent_message WHERE id = ?")
              .pluck()
              .get(m.id) as string) ?? "{}",
          );
          return `${c.message_id}`;
        }),
    );
    for (const m of messages) {
      if (m.message_type === "error_notification") continue;
      if (!["acknowledged", "failed", "expired"].includes(m.status))
        problems.push(`message ${m.id} (${m.message_type}) is ${m.status}`);
      if (["failed", "expired"].includes(m.status) && !told.has(`${m.id}`))
        problems.push(`message ${m.id} is ${m.status} but ${m.from_agent} was not told`);
    }
    // Locks: no lock row held by a live process.
    for (const row of d
      .prepare("SELECT key, value FROM orchestrator_meta WHERE key LIKE 'lock:%'")
      .all() as { key: string; value: string }[]) {
      const holder = JSON.parse(row.value) as { pid: number };
      if (alive(holder.pid)) problems.push(`${row.key} still held by live pid ${holder.pid}`);
    }
  } finally {
    d.close();
  }
  // Git: no half-merge, no lock file, no worktree or task branch left.
  const gitDir = join(e.repo, ".git");
  if (existsSync(join(gitDir, "MERGE_HEAD"))) problems.push("MERGE_HEAD left in the repository");
  const locks = findLocks(gitDir);
  if (locks.length) problems.push(`git lock files left: ${locks.join(", ")}`);
  const worktrees = git(e.repo, "worktree", "list", "--porcelain")
    .split("\n")
    .filter((l) => l.startsWith("worktree "));
  if (worktrees.length !== 1) problems.push(`worktrees left: ${worktrees.slice(1).join(", ")}`);
  const root = join(e.base, "worktrees");
  if (existsSync(root) && readdirSync(root).length)
    problems.push(`worktree directories left: ${readdirSync(root).join(", ")}`);
  const branches = git(e.repo, "branch", "--list", "roadmap-implementation_task-*");
  if (branches) problems.push(`task branches left: ${branches.replace(/\s+/g, " ")}`);
  if (problems.length) throw new ChaosFailure(problems.join("\n"));
}

function findLocks(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== "objects") found.push(...findLocks(path));
    } else if (entry.name.endsWith(".lock")) found.push(path);
  }
  return found;
}

/** Agents and supervisors the kills left without a parent are not left running. */
function killLeftovers(e: Env): void {
  if (!existsSync(e.db)) return;
  try {
    const d = new Database(e.db, { readonly: true });
    const rows = d
      .prepare(
        "SELECT pid, supervisor_pid FROM agent_lifecycle WHERE status IN ('starting','running')",
      )
      .all() as { pid: number | null; supervisor_pid: number | null }[];
    d.close();
    for (const r of rows) {
      for (const pid of [r.supervisor_pid, r.pid]) {
        if (pid && alive(pid)) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // already gone
          }
        }
      }
    }
  } catch {
    // nothing to clean
  }
}

const seeds = SEED !== undefined ? [Number(SEED)] : SEEDS.slice(0, RUNS);

describe("chaos: SIGKILL anything at any moment, every guarantee still holds", () => {
  for (const seed of seeds) {
    it(
      `seed ${seed}: ${KILLS} kills, then a clean run completes the demo plan`,
      async () => {
        const r = await chaosRun(seed, KILLS);
        console.log(`chaos seed ${seed}: ${r.kills} kills, ${(r.ms / 1000).toFixed(1)}s`);
        expect(r.kills).toBeGreaterThan(0);
      },
      KILLS * 5_000 + FINAL_RUN_MS + 120_000,
    );
  }
});
