import { execFileSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { type CliResult, cli, cliAsync } from "./helpers/cli.js";
import { DEMO_PLAN, demoRepo } from "./helpers/demo.js";
import { git } from "./helpers/git.js";

const TASKS = 12;
const running: { kill: () => void }[] = [];

afterEach(() => {
  for (const r of running.splice(0)) r.kill();
});

// biome-ignore lint/suspicious/noExplicitAny: JSON lines of every event shape
type Line = any;

function lines(stdout: string): Line[] {
  return stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l));
}

/** `run` as a subprocess; its agents are killed after the test, whatever happened. */
function startRun(repo: string, args: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const r = cliAsync(["run", "--plan", DEMO_PLAN, "--max-parallel", "3", "--json", ...args], {
    cwd: repo,
    env,
  });
  running.push({
    kill: () => {
      r.child.kill("SIGKILL");
      for (const a of cli(["agents", "list", "--json"], { cwd: repo }).json?.result?.agents ?? [])
        cli(["agents", "kill", "--agent-id", a.agent_id, "--grace", "100ms"], { cwd: repo });
    },
  });
  return r;
}

function query<T>(repo: string, sql: string): T[] {
  if (!existsSync(`${repo}/.orchestrator/orchestrator.db`)) return [];
  const db = new Database(`${repo}/.orchestrator/orchestrator.db`, { readonly: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

async function until<T>(what: string, probe: () => T | undefined | false, ms = 60_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    let value: T | undefined | false;
    try {
      value = probe();
    } catch {
      value = undefined; // the database is still being created
    }
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** The final state every finished run must leave: the whole plan merged once, nothing left over. */
function expectFinished(repo: string, result: CliResult): void {
  expect(result.status, result.stderr + result.stdout.slice(-2000)).toBe(0);
  const statuses = query<{ status: string; n: number }>(
    repo,
    "SELECT status, count(*) AS n FROM specs_task GROUP BY status",
  );
  expect(statuses).toEqual([{ status: "completed", n: TASKS }]);
  // Every task's work is on the integration branch exactly once…
  const subjects = git(repo, "log", "--format=%s", "roadmap").split("\n");
  const ids = query<{ task_id: string }>(repo, "SELECT task_id FROM specs_task").map(
    (t) => t.task_id,
  );
  for (const id of ids) {
    expect(
      subjects.filter((s) => s.startsWith(`task ${id}:`)),
      id,
    ).toHaveLength(1);
  }
  // …each brought in by a --no-ff merge commit on the first-parent line.
  const firstParent = git(repo, "rev-list", "--first-parent", "--min-parents=2", "roadmap");
  expect(firstParent.split("\n")).toHaveLength(TASKS);
  expect(
    git(repo, "rev-list", "--first-parent", "--max-parents=1", "roadmap").split("\n"),
  ).toHaveLength(2);
  // No worktree, task branch or live agent is left behind.
  expect(git(repo, "worktree", "list", "--porcelain").match(/^worktree /gm)).toHaveLength(1);
  expect(git(repo, "for-each-ref", "refs/heads/roadmap-implementation_task-*")).toBe("");
  expect(
    query(repo, "SELECT agent_id FROM agent_lifecycle WHERE status IN ('starting','running')"),
  ).toEqual([]);
}

describe("orchestrator run (the demo plan, real agents)", () => {
  it("runs the whole plan: every task merged once, a conflict retried on a fresh branch, a speed-up over 1.5", async () => {
    const { repo } = demoRepo();
    // Agents that take 3 s keep the measured speed-up about parallelism, not about how busy
    // the machine's cores are with other test files.
    const result = await startRun(repo, [], { DEMO_AGENT_SECONDS: "3" }).done;
    expectFinished(repo, result);

    const out = lines(result.stdout);
    const doc = out.at(-1);
    expect(doc).toMatchObject({ ok: true, command: "run", result: { outcome: "completed" } });
    expect(doc.result.speedup, JSON.stringify(doc.result.report.task_times)).toBeGreaterThan(1.5);
    const events = out.slice(0, -1).map((l: Line) => l.event);
    expect(events.filter((e: Line) => e.kind === "merged")).toHaveLength(TASKS);
    // The two theme tasks write the same file: the second to merge conflicts, gets a new
    // attempt from the integration branch, and goes through; its first commits are kept.
    const conflict = events.find((e: Line) => e.kind === "conflict");
    expect(conflict.task_id).toMatch(/^theme-(dark|light)$/);
    expect(conflict.message).toContain("settings/theme.txt");
    const kept = git(repo, "for-each-ref", "--format=%(refname)", "refs/orchestrator/attempts/");
    expect(kept).toMatch(new RegExp(`^refs/orchestrator/attempts/${conflict.task_id}/\\d+$`));
    expect(git(repo, "show", "roadmap:settings/theme.txt")).toContain(conflict.task_id);

    // The database tells the same story, as `agents report` reads it.
    const report = cli(["agents", "report", "--since", "1h", "--json"], { cwd: repo }).json.result;
    expect(report.happened).toMatchObject({ tasks_completed: TASKS, merges: TASKS, conflicts: 1 });
    const kinds = new Set(
      query<{ kind: string }>(repo, "SELECT DISTINCT kind FROM orchestrator_event").map(
        (k) => k.kind,
      ),
    );
    for (const kind of [
      "run_started",
      "agent_spawned",
      "task_review",
      "task_conflict",
      "branch_set_aside",
      "task_retried",
      "task_completed",
      "worktree_removed",
      "run_ended",
    ]) {
      expect(kinds, kind).toContain(kind);
    }
  }, 120_000);

  it("Ctrl-C stops the agents and keeps their worktrees; a second run resumes to completion", async () => {
    const { repo } = demoRepo();
    const first = startRun(repo, [], { DEMO_AGENT_SECONDS: "4" });
    let seen = "";
    first.child.stdout!.on("data", (d) => (seen += d));
    // Stop while agents are at work and some tasks are already merged.
    await until("a merge and three running agents", () => {
      const merged = seen.includes('"kind":"merged"');
      const live = query(repo, "SELECT 1 FROM agent_lifecycle WHERE status = 'running'").length;
      return merged && live === 3;
    });
    first.child.kill("SIGINT");
    const stopped = await first.done;
    expect(stopped.status).toBe(130);
    expect(lines(stopped.stdout).at(-1).result.outcome).toBe("interrupted");

    const live = query(
      repo,
      "SELECT 1 FROM agent_lifecycle WHERE status IN ('starting','running')",
    );
    expect(live).toEqual([]);
    const pids = query<{ pid: number }>(
      repo,
      "SELECT pid FROM agent_lifecycle WHERE pid IS NOT NULL",
    );
    const ps = execFileSync("ps", ["-e", "-o", "pid="], { encoding: "utf8" });
    const alive = new Set(ps.split("\n").map((p) => Number(p.trim())));
    expect(pids.filter((p) => alive.has(p.pid))).toEqual([]);
    const waiting = query<{ task_id: string }>(
      repo,
      "SELECT task_id FROM specs_task WHERE status = 'assigned'",
    );
    expect(waiting.length).toBeGreaterThan(0);
    for (const { task_id } of waiting) {
      expect(git(repo, "branch", "--list", `roadmap-implementation_task-${task_id}`)).not.toBe("");
    }

    expectFinished(repo, await startRun(repo).done);
  }, 180_000);

  it("refuses a second run while the first is alive, and takes over once it was killed", async () => {
    const { repo } = demoRepo();
    const first = startRun(repo, [], { DEMO_AGENT_SECONDS: "3" });
    await until(
      "the first run's agents",
      () => query(repo, "SELECT 1 FROM agent_lifecycle WHERE status = 'running'").length > 0,
    );
    const second = cli(["run", "--json"], { cwd: repo });
    expect(second.status).toBe(5);
    expect(second.json.error).toMatchObject({ code: "SingletonViolation" });
    expect(second.json.error.message).toContain(`pid ${first.child.pid}`);

    first.child.kill("SIGKILL"); // its agents run on under their supervisors
    await first.done;
    expectFinished(repo, await startRun(repo).done);
  }, 180_000);

  it("stops when stuck (exit 8), naming the task that holds the rest back", async () => {
    const { repo } = demoRepo(
      `agents:\n  code_developer:\n    command: ["node", "-e", "process.exit(0)"]\n    max_instances: 3\n`,
    );
    const result = await startRun(repo).done;
    expect(result.status).toBe(8);
    const doc = lines(result.stdout).at(-1);
    expect(doc.result.outcome).toBe("stuck");
    expect(doc.result.deadlocks.stuck.root_blockers.map((b: Line) => b.task_id)).toContain(
      "db-schema",
    );
    expect(doc.result.deadlocks.stuck.root_blockers[0].reason).toMatch(/without committing/);
  }, 60_000);

  it("runs two ready tasks of a singleton type one after the other (it crashed with SingletonViolation, chaos seed 7)", async () => {
    const { base, repo } = demoRepo(
      `integration_branch: roadmap\nworktree_root: ../worktrees\nagents:\n  architect:\n    command: ["node", "tools/demo-agent.mjs", "{title}"]\n    singleton: true\n`,
    );
    const plan = join(base, "singleton.yaml");
    writeFileSync(
      plan,
      "tasks:\n  - { id: spec-a, title: Spec A, agent_type: architect }\n  - { id: spec-b, title: Spec B, agent_type: architect }\n",
    );
    const r = cliAsync(["run", "--plan", plan, "--json"], {
      cwd: repo,
      env: { DEMO_AGENT_SECONDS: "0.2" },
    });
    running.push({ kill: () => r.child.kill("SIGKILL") });
    const result = await r.done;
    expect(result.status, result.stderr).toBe(0);
    expect(lines(result.stdout).at(-1).result.outcome).toBe("completed");
    // Never two architects at once: each started after the other had ended.
    const agents = query<{ started_at: number; ended_at: number }>(
      repo,
      "SELECT started_at, ended_at FROM agent_lifecycle ORDER BY started_at",
    );
    expect(agents).toHaveLength(2);
    expect(agents[1]!.started_at).toBeGreaterThanOrEqual(agents[0]!.ended_at);
  }, 60_000);

  it("refuses to start when a task needs an agent type the config lacks, and changes nothing", () => {
    const { repo } = demoRepo("agents: {}\n");
    const r = cli(["run", "--plan", DEMO_PLAN, "--json"], { cwd: repo });
    expect(r.status).toBe(2);
    expect(r.json.error).toMatchObject({
      code: "InvalidInput",
      details: { missing_agent_types: ["code_developer"] },
    });
    expect(query(repo, "SELECT 1 FROM specs_task")).toEqual([]);
    expect(query(repo, "SELECT 1 FROM agent_lifecycle")).toEqual([]);
  });
});
