import { execFileSync } from "node:child_process";
import { realpathSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { cli, cliAsync, ROOT } from "./helpers/cli.js";
import { git, tempRepo } from "./helpers/git.js";
import { tempDir } from "./helpers/tmp.js";

const FIXTURES = join(ROOT, "test", "fixtures", "agents");
const cleanups: (() => void)[] = [];

afterEach(() => {
  for (const clean of cleanups.splice(0)) clean();
});

interface Setup {
  repo: string;
  db: string;
  run: (...args: string[]) => ReturnType<typeof cli>;
  read: () => Database.Database;
}

/** A repo with a config whose agent types run the fixture scripts, and tight health limits. */
function setup(agents: Record<string, unknown>, extra = ""): Setup {
  // <tmp>/repo, so the default worktree root ../worktrees is private to this test.
  const repo = tempRepo(join(tempDir("orch-agents-"), "repo"));
  const db = join(repo, ".orchestrator", "orchestrator.db");
  writeFileSync(
    join(repo, "orchestrator.config.yaml"),
    `agents: ${JSON.stringify(agents)}
health:
  heartbeat: { warning: 300ms, stalled: 800ms }
  sample_interval: 100ms
  kill_grace: 500ms
${extra}`,
  );
  const run = (...args: string[]) => cli([...args, "--json"], { cwd: repo });
  let reader: Database.Database | undefined;
  const read = () => {
    reader ??= new Database(db, { readonly: true });
    return reader;
  };
  cleanups.push(() => {
    // Never leave agent processes behind, whatever the test did.
    for (const a of run("agents", "list").json?.result?.agents ?? [])
      run("agents", "kill", "--agent-id", a.agent_id, "--grace", "100ms");
    reader?.close();
  });
  return { repo, db, run, read };
}

/** Imports tasks and assigns them (spawn creates each task's worktree). */
function assignedTasks(s: Setup, ids: string[], agentType: string): void {
  const plan = join(s.repo, "..", `${basename(s.repo)}-plan.json`);
  writeFileSync(
    plan,
    JSON.stringify({
      tasks: ids.map((id) => ({ id, title: `Task ${id}`, agent_type: agentType })),
    }),
  );
  expect(s.run("tasks", "import", plan).status).toBe(0);
  expect(s.run("assign", "--max-parallel", "100").json.result.tasks_assigned).toBe(ids.length);
}

async function until<T>(
  what: string,
  probe: () => T | undefined | false,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const taskStatus = (s: Setup, id: string) =>
  (s.read().prepare("SELECT status FROM specs_task WHERE task_id = ?").pluck().get(id) as string) ??
  "";
const agentRow = (s: Setup, id: string) =>
  s.read().prepare("SELECT * FROM agent_lifecycle WHERE agent_id = ?").get(id) as Record<
    string,
    unknown
  >;

describe("agents (real processes)", () => {
  it("spawns an agent in its task's new worktree with its environment; exit 0 with a commit puts the task in review", async () => {
    const s = setup({ dev: { command: [join(FIXTURES, "work.sh"), "0.3"], max_instances: 2 } });
    assignedTasks(s, ["a"], "dev");
    const spawned = s.run("agents", "spawn", "--agent-type", "dev", "--task-id", "a");
    expect(spawned.status, spawned.stdout).toBe(0);
    const { agent_id, pid, worktree_path, log_path } = spawned.json.result;
    expect(pid).toBeGreaterThan(0);
    expect(basename(worktree_path)).toBe("task-a");
    expect(git(worktree_path, "branch", "--show-current")).toBe("roadmap-implementation_task-a");
    expect(taskStatus(s, "a")).toBe("in_progress");
    await until("the agent to exit", () => agentRow(s, agent_id).status === "exited");
    expect(agentRow(s, agent_id)).toMatchObject({ exit_code: 0, end_reason: "exited 0" });
    expect(taskStatus(s, "a")).toBe("review");
    const log = execFileSync("cat", [log_path], { encoding: "utf8" });
    expect(log).toContain(`agent ${agent_id} task=a cwd=${realpathSync(worktree_path)}`);
  });

  it("an agent that exits 0 without committing fails its task", async () => {
    const s = setup({ dev: { command: [join(FIXTURES, "exit.sh"), "0"] } });
    assignedTasks(s, ["a"], "dev");
    const { agent_id } = s.run("agents", "spawn", "--agent-type", "dev", "--task-id", "a").json
      .result;
    await until("the agent to exit", () => agentRow(s, agent_id).status === "exited");
    expect(taskStatus(s, "a")).toBe("failed");
    expect(s.read().prepare("SELECT status_reason FROM specs_task").pluck().get()).toMatch(
      /exited 0 without committing anything/,
    );
  });

  it("records a non-zero exit: the agent failed and its task failed with the reason", async () => {
    const s = setup({ dev: { command: [join(FIXTURES, "exit.sh"), "3"] } });
    assignedTasks(s, ["a"], "dev");
    const { agent_id } = s.run("agents", "spawn", "--agent-type", "dev", "--task-id", "a").json
      .result;
    await until("the agent to fail", () => agentRow(s, agent_id).status === "failed");
    expect(agentRow(s, agent_id)).toMatchObject({ exit_code: 3, end_reason: "exited with code 3" });
    expect(taskStatus(s, "a")).toBe("failed");
  });

  it("refuses an unconfigured type, an unassigned task, a missing command, and unknown or hostile ids", () => {
    const s = setup({ dev: { command: ["/definitely/not/here"] } });
    expect(s.run("agents", "spawn", "--agent-type", "ghost").json.error.code).toBe("InvalidInput");
    expect(
      s.run("agents", "spawn", "--agent-type", "dev", "--task-id", "nope").json.error.code,
    ).toBe("TaskNotFound");
    const missing = s.run("agents", "spawn", "--agent-type", "dev");
    expect(missing.json.error.message).toMatch(
      /did not start: cannot start "\/definitely\/not\/here"/,
    );
    expect(s.run("agents", "kill", "--agent-id", "dev-00000000").json.error.code).toBe(
      "AgentNotFound",
    );
    expect(s.run("agents", "kill", "--agent-id", "../x").json.error.code).toBe("InvalidInput");
    expect(s.run("agents", "heartbeat", "--agent-id", "a;rm -rf /").json.error.code).toBe(
      "InvalidInput",
    );
  });

  it("8 processes spawning one singleton type at once leave exactly one running", async () => {
    const s = setup({ architect: { command: [join(FIXTURES, "hang.sh")] } });
    const runs = Array.from({ length: 8 }, () =>
      cliAsync(["agents", "spawn", "--agent-type", "architect", "--json"], { cwd: s.repo }),
    );
    const results = await Promise.all(runs.map((r) => r.done));
    const ok = results.filter((r) => r.json?.ok);
    const refused = results.filter((r) => r.json?.error?.code === "SingletonViolation");
    expect(ok).toHaveLength(1);
    expect(refused).toHaveLength(7);
    for (const r of refused) expect(r.status).toBe(5);
    expect(s.run("agents", "list").json.result.agents).toHaveLength(1);
    // The seven refused spawns never wrote a row nor started a process.
    const rows = s.read().prepare("SELECT status, pid FROM agent_lifecycle").all() as {
      status: string;
      pid: number;
    }[];
    expect(rows).toEqual([{ status: "running", pid: ok[0]!.json.result.pid }]);
    expect(isRunning(ok[0]!.json.result.pid)).toBe(true);
  });

  it("an agent that hangs without heartbeats is stalled, and --auto-restart replaces it", async () => {
    const s = setup(
      { dev: { command: [join(FIXTURES, "hang.sh")], heartbeat: "agent" } },
      "restart: { base: 10ms }",
    );
    assignedTasks(s, ["a"], "dev");
    const { agent_id } = s.run("agents", "spawn", "--agent-type", "dev", "--task-id", "a").json
      .result;
    // Each verdict must match the heartbeat age it was computed from (300ms warning, 800ms stalled).
    const seen = new Set<string>();
    const stalled = await until("a stalled verdict", () => {
      const [a] = s.run("agents", "health").json.result.agents;
      const expected =
        a.heartbeat_age_ms > 800 ? "stalled" : a.heartbeat_age_ms >= 300 ? "warning" : "healthy";
      expect(a.health).toBe(expected);
      seen.add(a.health);
      return a.health === "stalled" && a;
    });
    expect(seen.has("stalled")).toBe(true);
    expect(stalled.agent_id).toBe(agent_id);
    expect(stalled.reasons[0]).toMatch(/no heartbeat for/);
    const healed = s.run("agents", "health", "--auto-restart").json.result;
    expect(healed.restarts).toEqual([
      expect.objectContaining({ agent_id, action: "restarted", attempt: 1 }),
    ]);
    const successor = healed.restarts[0].new_agent_id;
    expect(agentRow(s, agent_id)).toMatchObject({ status: "failed", restart_state: "restarted" });
    expect(String(agentRow(s, agent_id).end_reason)).toMatch(/^stalled/);
    expect(agentRow(s, successor)).toMatchObject({
      status: "running",
      task_id: "a",
      restart_of: agent_id,
    });
    // A heartbeat from the agent resets its age.
    expect(
      s.run("agents", "heartbeat", "--agent-id", successor, "--status", "working").status,
    ).toBe(0);
    expect(s.run("agents", "health").json.result.agents[0].heartbeat_age_ms).toBeLessThan(800);
  });

  it("an agent killed from outside is dead; --auto-restart starts a successor on the same task", async () => {
    const s = setup({ dev: { command: [join(FIXTURES, "hang.sh")] } }, "restart: { base: 10ms }");
    assignedTasks(s, ["a"], "dev");
    const { agent_id } = s.run("agents", "spawn", "--agent-type", "dev", "--task-id", "a").json
      .result;
    const supervisor = agentRow(s, agent_id).supervisor_pid as number;
    const pid = agentRow(s, agent_id).pid as number;
    process.kill(-supervisor, "SIGKILL");
    await until("the agent process to go", () => !isRunning(pid) && !isRunning(supervisor));
    const health = s.run("agents", "health").json.result;
    expect(health.agents[0], JSON.stringify(health)).toMatchObject({ agent_id, health: "dead" });
    // The first restart waits out the backoff base (counted from when the death was found).
    const restarted = await until("the restart", () => {
      const decision = s.run("agents", "health", "--auto-restart").json.result.restarts[0];
      expect(decision).toMatchObject({ agent_id, attempt: 1, delay_ms: 10 });
      return decision.action === "restarted" && decision;
    });
    expect(agentRow(s, restarted.new_agent_id)).toMatchObject({
      status: "running",
      restart_of: agent_id,
    });
    expect(agentRow(s, agent_id)).toMatchObject({
      status: "failed",
      end_reason: "vanished: its process is gone",
    });
    expect(taskStatus(s, "a")).toBe("in_progress");
  });

  it("a pid now owned by another process is dead, not alive", async () => {
    const s = setup({ architect: { command: [join(FIXTURES, "hang.sh")] } });
    const { agent_id } = s.run("agents", "spawn", "--agent-type", "architect").json.result;
    // Point the row at a live process that is not the agent: this test runner itself.
    const writer = new Database(s.db);
    const start = readStartTime(process.pid);
    writer
      .prepare("UPDATE agent_lifecycle SET pid = ?, pid_start_time = ? WHERE agent_id = ?")
      .run(process.pid, `${start}0`, agent_id);
    writer.close();
    expect(s.run("agents", "health").json.result.agents[0]).toMatchObject({
      agent_id,
      health: "dead",
    });
  });

  it("backs off exponentially between restarts and stops at the crash-loop limit", async () => {
    const s = setup(
      { dev: { command: [join(FIXTURES, "exit.sh"), "1"] } },
      "restart: { base: 200ms, factor: 2, max: 1s, crash_loop: { restarts: 3, within: 1m } }",
    );
    assignedTasks(s, ["a"], "dev");
    s.run("agents", "spawn", "--agent-type", "dev", "--task-id", "a");
    const decisions: { action: string; attempt: number; delay_ms: number }[] = [];
    await until(
      "the crash-loop limit",
      () => {
        const r = s.run("agents", "health", "--auto-restart").json.result;
        decisions.push(...r.restarts);
        return r.restarts.some((d: { action: string }) => d.action === "gave_up");
      },
      30_000,
    );
    const log = s
      .read()
      .prepare("SELECT attempt_number, delay_ms FROM agent_restart_log ORDER BY id")
      .all();
    expect(log).toEqual([
      { attempt_number: 1, delay_ms: 200 },
      { attempt_number: 2, delay_ms: 400 },
      { attempt_number: 3, delay_ms: 800 },
    ]);
    expect(decisions.some((d) => d.action === "scheduled")).toBe(true);
    expect(taskStatus(s, "a")).toBe("failed");
    const notice = s
      .read()
      .prepare(
        "SELECT to_agent, message_type, content FROM agent_message WHERE message_type = 'error_notification'",
      )
      .get() as { to_agent: string; content: string };
    expect(notice.to_agent).toBe("dev");
    expect(JSON.parse(notice.content).error).toMatch(/crash loop: 3 restarts/);
    // No more restarts after giving up.
    expect(s.run("agents", "health", "--auto-restart").json.result.restarts).toEqual([]);
  });

  it("kill escalates to SIGKILL for an agent that ignores SIGTERM, and leaves nothing running", async () => {
    const s = setup({ architect: { command: [join(FIXTURES, "stubborn.sh")] } });
    const { agent_id, pid } = s.run("agents", "spawn", "--agent-type", "architect").json.result;
    await sleep(200);
    const killed = s.run("agents", "kill", "--agent-id", agent_id, "--grace", "300ms");
    expect(killed.json.result).toEqual({ agent_id, was_live: true, signal: "SIGKILL" });
    expect(isRunning(pid)).toBe(false);
    expect(agentRow(s, agent_id)).toMatchObject({
      status: "killed",
      end_reason: "killed by request",
    });
    expect(s.run("agents", "kill", "--agent-id", agent_id).json.result.was_live).toBe(false);
  });

  it("reports a deadlock cycle between waiting agents, with its members", async () => {
    const s = setup({ dev: { command: [join(FIXTURES, "hang.sh")], max_instances: 2 } });
    assignedTasks(s, ["a", "b"], "dev");
    const a = s.run("agents", "spawn", "--agent-type", "dev", "--task-id", "a").json.result
      .agent_id;
    const b = s.run("agents", "spawn", "--agent-type", "dev", "--task-id", "b").json.result
      .agent_id;
    s.run("agents", "heartbeat", "--agent-id", a, "--status", "waiting", "--waiting-on", b);
    s.run("agents", "heartbeat", "--agent-id", b, "--status", "waiting", "--waiting-on", "a");
    const report = s.run("agents", "report").json.result;
    const members = report.now.deadlocks.cycles[0].members as string[];
    expect(new Set(members)).toEqual(new Set([`agent:${a}`, `agent:${b}`, "task:a"]));
    expect(members[0]).toBe(members.at(-1));
    expect(cli(["agents", "report"], { cwd: s.repo }).stdout).toMatch(/Deadlock: .* waits on /);
  });

  it("reports a stuck graph with its root blockers, and a Markdown summary with a mermaid graph", () => {
    const s = setup({});
    const plan = join(s.repo, "plan.json");
    writeFileSync(
      plan,
      JSON.stringify({
        tasks: [
          { id: "base", title: "Base" },
          { id: "top", title: "Top <b>|x|</b>", depends_on: ["base"] },
        ],
      }),
    );
    s.run("tasks", "import", plan);
    s.run("assign");
    s.run("tasks", "fail", "base", "--reason", "broken build");
    const report = s.run("agents", "report").json.result;
    expect(report.now.deadlocks.stuck).toMatchObject({
      pending: 1,
      root_blockers: [{ task_id: "base", status: "failed", reason: "broken build", waiting: 1 }],
    });
    // assign sent one task_assignment message: counted from the message rows.
    expect(report.happened).toMatchObject({ tasks_assigned: 1, tasks_failed: 1, messages_sent: 1 });
    const markdown = cli(["agents", "report", "--markdown"], { cwd: s.repo }).stdout;
    expect(markdown).toContain("```mermaid");
    expect(markdown).toMatch(/t0\["base"\]:::failed/);
    expect(markdown).toMatch(/t1\["top"\]:::blocked/);
    // Problems are user-influenced text, escaped for Markdown: `\:` renders as `:`.
    expect(markdown).toContain("- Stuck\\: 1 pending task");
    expect(markdown).toContain("held back by base \\(failed\\: broken build\\)");
    expect(markdown).not.toContain("<b>");
  });
});

/** Alive and not a zombie (this sandbox's init may not reap orphans). */
function isRunning(pid: number): boolean {
  try {
    const stat = execFileSync("cat", [`/proc/${pid}/stat`], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0]!);
  } catch {
    return false;
  }
}

function readStartTime(pid: number): string {
  const stat = execFileSync("cat", [`/proc/${pid}/stat`], { encoding: "utf8" });
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]!;
}
