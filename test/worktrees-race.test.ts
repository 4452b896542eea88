// Several real processes on each contended worktree operation: merge, cleanup and create.
// ORCHESTRATOR_RACE_PROCS sets how many race at once (default 6), ORCHESTRATOR_RACE_ROUNDS
// how many SIGKILL rounds the create test runs (default 12), ORCHESTRATOR_RACE_SEED its seed.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { git } from "./helpers/git.js";
import {
  BRANCH,
  commitIn,
  db,
  expectConsistent,
  gitWorktrees,
  killDuring,
  noMergeState,
  type Project,
  project,
  taskBranches,
  taskStatus,
} from "./helpers/project.js";
import { failures, prng, RACE_PROCS, race } from "./helpers/race.js";

const ROUNDS = Number(process.env.ORCHESTRATOR_RACE_ROUNDS ?? 12);
const SEED = Number(process.env.ORCHESTRATOR_RACE_SEED ?? 20261128);

/** Tasks assigned, each with a worktree holding one commit of its own; returns the commits. */
function withWork(p: Project, ids: readonly string[]): Map<string, string> {
  expect(p.run("assign", "--max-parallel", String(ids.length)).status).toBe(0);
  const commits = new Map<string, string>();
  for (const id of ids) {
    const r = p.run("worktrees", "create", "--task-id", id);
    expect(r.status, r.stderr).toBe(0);
    commits.set(id, commitIn(r.json.result.worktree_path, `${id}.txt`, `${id}\n`, `work on ${id}`));
  }
  return commits;
}

/** Merge commits for a task on the integration branch's first-parent chain. */
function mergesOf(p: Project, id: string): string[] {
  return git(p.repo, "log", "--first-parent", "--merges", "--format=%H %s", "roadmap")
    .split("\n")
    .filter((l) => l.endsWith(` merge: complete ${id}`));
}

/** Nothing is left behind: no task worktree or branch, no half-merge, rows settled. */
function expectAllCleaned(p: Project): void {
  expect(expectConsistent(p)).toEqual([]);
  expect(taskBranches(p.repo)).toEqual([]);
  expect(gitWorktrees(p.repo)).toHaveLength(1);
  noMergeState(p.repo);
}

describe("worktrees under racing processes", () => {
  it(`merge and cleanup of one task from ${RACE_PROCS + 1} processes at once: merged exactly once, completed, nothing lost`, async () => {
    const ids = ["m0", "m1", "m2"];
    const p = project(ids);
    const commits = withWork(p, ids);
    for (const id of ids) {
      const args = (...a: string[]) => ["--repo", p.repo, "--json", ...a];
      const commands = Array.from({ length: RACE_PROCS + 1 }, (_, i) =>
        i === RACE_PROCS
          ? args("worktrees", "cleanup", "--merged")
          : i % 2 === 0
            ? args("worktrees", "merge", "--task-id", id)
            : args("worktrees", "cleanup", "--task-id", id),
      );
      const runs = await race(commands, { cwd: p.repo });
      expect(failures(runs), `round ${id}`).toEqual([]);

      const merges = runs.filter((r) => r.args.includes("merge"));
      const mergeCommits = new Set(merges.map((r) => r.result.json.result.merge_commit));
      expect(mergeCommits.size, JSON.stringify(merges.map((r) => r.result.json))).toBe(1);
      expect(merges.every((r) => r.result.json.result.status === "merged")).toBe(true);
      // Exactly one process did the merge; the others saw it done.
      expect(merges.filter((r) => !r.result.json.result.already_merged)).toHaveLength(1);
      expect(mergesOf(p, id)).toHaveLength(1);
      expect(mergesOf(p, id)[0]).toMatch(new RegExp(`^${[...mergeCommits][0]} `));
      expect(taskStatus(p, id)).toBe("completed");
      // The agent's commit is on the integration branch, whoever removed its branch.
      git(p.repo, "merge-base", "--is-ancestor", commits.get(id)!, "roadmap");

      const cleaned = p.run("worktrees", "cleanup", "--merged");
      expect(cleaned.status, cleaned.stderr).toBe(0);
      expect(cleaned.json.result.kept.map((k: { task_id: string }) => k.task_id)).not.toContain(id);
    }
    expectAllCleaned(p);
  });

  it(`merges of ${RACE_PROCS} different tasks at once, with sweeping clean-ups: each merged once, in a line`, async () => {
    const ids = Array.from({ length: RACE_PROCS }, (_, i) => `d${i}`);
    const p = project(ids);
    const commits = withWork(p, ids);
    const args = (...a: string[]) => ["--repo", p.repo, "--json", ...a];
    const runs = await race(
      [
        ...ids.map((id) => args("worktrees", "merge", "--task-id", id)),
        args("worktrees", "cleanup", "--merged"),
        args("worktrees", "cleanup", "--merged"),
      ],
      { cwd: p.repo },
    );
    expect(failures(runs)).toEqual([]);
    for (const id of ids) {
      expect(mergesOf(p, id), id).toHaveLength(1);
      expect(taskStatus(p, id)).toBe("completed");
      git(p.repo, "merge-base", "--is-ancestor", commits.get(id)!, "roadmap");
    }
    // Every merge commit's first parent is the previous one: no merge was lost to a race.
    expect(git(p.repo, "rev-list", "--first-parent", "--count", "roadmap")).toBe(
      String(ids.length + 1),
    );
    expect(p.run("worktrees", "cleanup", "--merged").status).toBe(0);
    expectAllCleaned(p);
  });

  it(
    `create killed with SIGKILL at random moments, ${ROUNDS} rounds (seed ${SEED}): the next create always succeeds`,
    async () => {
      const random = prng(SEED);
      const ids = Array.from({ length: ROUNDS }, (_, i) => `k${i}`);
      const p = project(ids);
      expect(p.run("assign", "--max-parallel", String(ids.length)).status).toBe(0);
      let leftLocks = 0;
      for (const id of ids) {
        const delay = Math.floor(random() * 450);
        await killDuring(p, ["worktrees", "create", "--task-id", id], delay);
        if (existsSync(join(p.repo, ".git", "refs", "heads", `${BRANCH(id)}.lock`))) leftLocks++;
        const again = p.run("worktrees", "create", "--task-id", id, "--reuse");
        expect(
          again.status,
          `create after a SIGKILL at ${delay} ms (ORCHESTRATOR_RACE_SEED=${SEED}): ${again.stderr}${again.stdout}`,
        ).toBe(0);
        expect(existsSync(join(again.json.result.worktree_path, ".git"))).toBe(true);
        expect(git(again.json.result.worktree_path, "rev-parse", "--abbrev-ref", "HEAD")).toBe(
          BRANCH(id),
        );
      }
      console.log(`create killed ${ROUNDS} times: ${leftLocks} left a stale branch ref lock`);
      expect(expectConsistent(p)).toHaveLength(ids.length);
      const heads = readdirSync(join(p.repo, ".git", "refs", "heads"));
      expect(heads.filter((f) => f.endsWith(".lock"))).toEqual([]);
    },
    20_000 + ROUNDS * 2_000,
  );
});

describe("worktrees merge and cleanup said twice", () => {
  it("a second cleanup is a no-op, and a merge after the clean-up reports the merge it finds", () => {
    const p = project(["twice"]);
    withWork(p, ["twice"]);
    const merged = p.run("worktrees", "merge", "--task-id", "twice");
    expect(merged.json.result).toMatchObject({ status: "merged", already_merged: false });
    const first = p.run("worktrees", "cleanup", "--task-id", "twice");
    expect(first.json.result).toMatchObject({ removed: ["twice"], already_removed: [] });
    const second = p.run("worktrees", "cleanup", "--task-id", "twice");
    expect(second.status, second.stderr).toBe(0);
    expect(second.json.result).toEqual({ removed: [], kept: [], already_removed: ["twice"] });
    const again = p.run("worktrees", "merge", "--task-id", "twice");
    expect(again.status, again.stderr).toBe(0);
    expect(again.json.result).toEqual({
      task_id: "twice",
      status: "merged",
      merge_commit: merged.json.result.merge_commit,
      conflicts: [],
      already_merged: true,
    });
    expect(mergesOf(p, "twice")).toHaveLength(1);
  });

  it("merge refuses while the task's agent is still running, naming it", () => {
    const p = project(["busy"]);
    withWork(p, ["busy"]);
    const conn = db(p);
    conn
      .prepare(
        `INSERT INTO agent_lifecycle (agent_id, agent_type, singleton, status, pid, task_id, log_path,
                                      started_at, last_heartbeat, updated_at)
         VALUES ('code_developer-busy', 'code_developer', 0, 'running', ?, 'busy', '/dev/null', 0, 0, 0)`,
      )
      .run(process.pid);
    conn.close();
    const before = git(p.repo, "rev-parse", "roadmap");
    const r = p.run("worktrees", "merge", "--task-id", "busy");
    expect(r.status).toBe(2);
    expect(r.json.error).toMatchObject({
      code: "InvalidInput",
      details: { task_id: "busy", agent_id: "code_developer-busy", pid: process.pid },
    });
    expect(r.json.error.message).toContain(`pid ${process.pid}`);
    expect(git(p.repo, "rev-parse", "roadmap")).toBe(before);
    expect(taskStatus(p, "busy")).toBe("assigned");
  });

  it("merge refuses a branch with no work of its own, and completes one merged by hand", () => {
    const p = project(["idle", "by-hand"]);
    expect(p.run("assign", "--max-parallel", "2").status).toBe(0);
    expect(p.run("worktrees", "create", "--task-id", "idle").status).toBe(0);
    const before = git(p.repo, "rev-parse", "roadmap");
    const idle = p.run("worktrees", "merge", "--task-id", "idle");
    expect(idle.status).toBe(2);
    expect(idle.json.error).toMatchObject({ code: "InvalidInput", details: { task_id: "idle" } });
    expect(idle.json.error.message).toMatch(/no commits/);
    expect(taskStatus(p, "idle")).toBe("assigned");
    expect(git(p.repo, "rev-parse", "roadmap")).toBe(before);

    const made = p.run("worktrees", "create", "--task-id", "by-hand");
    const work = commitIn(made.json.result.worktree_path, "h.txt", "h\n", "work by hand");
    git(p.repo, "checkout", "-q", "roadmap");
    git(p.repo, "merge", "-q", "--no-ff", "-m", "merged by hand", BRANCH("by-hand"));
    git(p.repo, "checkout", "-q", "main");
    const r = p.run("worktrees", "merge", "--task-id", "by-hand");
    expect(r.status, r.stderr).toBe(0);
    expect(r.json.result).toMatchObject({ status: "merged", merge_commit: null });
    expect(taskStatus(p, "by-hand")).toBe("completed");
    git(p.repo, "merge-base", "--is-ancestor", work, "roadmap");
  });
});
