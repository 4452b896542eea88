import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cliAsync } from "./helpers/cli.js";
import { git } from "./helpers/git.js";
import {
  BRANCH,
  commitIn,
  db,
  events,
  expectConsistent,
  gitWorktrees,
  killAt,
  killDuring,
  noMergeState,
  type Project,
  project,
  stoppingGit,
  taskBranches,
} from "./helpers/project.js";

describe("worktrees create", () => {
  it("makes a worktree on a local branch from the integration branch, records it, and refuses a second", () => {
    const p = project(["auth-api"]);
    expect(p.run("assign").status).toBe(0);
    const r = p.run("worktrees", "create", "--task-id", "auth-api");
    expect(r.status, r.stdout).toBe(0);
    const path = join(p.worktrees, "task-auth-api");
    expect(r.json.result).toEqual({
      task_id: "auth-api",
      branch: BRANCH("auth-api"),
      worktree_path: path,
    });
    expect(git(p.repo, "rev-parse", "roadmap")).toBe(git(p.repo, "rev-parse", "main"));
    expect(git(path, "rev-parse", "--abbrev-ref", "HEAD")).toBe(BRANCH("auth-api"));
    expect(git(p.repo, "config", "--list", "--local")).not.toMatch(/^branch\./m);

    const conn = db(p);
    const assignment = conn
      .prepare("SELECT worktree_path, branch FROM orchestrator_task WHERE task_id = 'auth-api'")
      .get();
    conn.close();
    expect(assignment).toEqual({ worktree_path: path, branch: BRANCH("auth-api") });

    const again = p.run("worktrees", "create", "--task-id", "auth-api");
    expect(again.status).toBe(6);
    expect(again.json.error).toMatchObject({
      code: "WorktreeExists",
      details: { worktree_path: path },
    });
    const reused = p.run("worktrees", "create", "--task-id", "auth-api", "--reuse");
    expect(reused.json.result.worktree_path).toBe(path);
  });

  it("8 processes creating 8 worktrees at once all succeed", async () => {
    const ids = Array.from({ length: 8 }, (_, i) => `t${i}`);
    const p = project(ids);
    const runs = ids.map(
      (id) =>
        cliAsync(["--repo", p.repo, "--json", "worktrees", "create", "--task-id", id], {
          cwd: p.repo,
        }).done,
    );
    const results = await Promise.all(runs);
    for (const r of results) expect(r.status, r.stderr + r.stdout).toBe(0);
    expect(gitWorktrees(p.repo)).toHaveLength(9);
    expect(expectConsistent(p)).toHaveLength(8);
  });

  it("prunes a stale registration left by a directory deleted by hand and makes it again", () => {
    const p = project(["a"]);
    const path = p.run("worktrees", "create", "--task-id", "a").json.result.worktree_path;
    const tip = commitIn(path, "a.txt", "a\n", "work");
    rmSync(path, { recursive: true, force: true });
    const listed = p.run("worktrees", "list").json.result.worktrees;
    expect(listed[0].problems.join(" ")).toMatch(/directory is gone/);
    const again = p.run("worktrees", "create", "--task-id", "a");
    expect(again.status, again.stdout).toBe(0);
    expect(git(path, "rev-parse", "HEAD")).toBe(tip);
    expectConsistent(p);
  });

  it("refuses hostile task ids with InvalidInput and changes nothing", () => {
    const p = project(["ok"]);
    const before = git(p.repo, "for-each-ref");
    for (const id of ["../x", "a;rm -rf", "--upload-pack=x", "a b", "x/../../y"]) {
      for (const args of [
        ["worktrees", "create", `--task-id=${id}`],
        ["worktrees", "merge", `--task-id=${id}`],
        ["worktrees", "cleanup", `--task-id=${id}`],
      ]) {
        const r = p.run(...args);
        expect(r.status, `${args.join(" ")}: ${r.stdout}`).toBe(2);
        expect(r.json.error.code).toBe("InvalidInput");
      }
    }
    expect(git(p.repo, "for-each-ref")).toBe(before);
    expect(gitWorktrees(p.repo)).toHaveLength(1);
    expect(existsSync(p.worktrees)).toBe(false);
  });
});

describe("worktrees merge", () => {
  it("two tasks editing the same line: the first merges, the second conflicts and nothing is left half-merged", () => {
    const p = project();
    expect(p.run("tasks", "import", writePlan(p)).status).toBe(0);
    expect(p.run("assign", "--task-ids", "a,b").json.result.tasks_assigned).toBe(2);
    const pa = p.run("worktrees", "create", "--task-id", "a").json.result.worktree_path;
    const pb = p.run("worktrees", "create", "--task-id", "b").json.result.worktree_path;
    const tipA = commitIn(pa, "README.md", "# from a\n", "a edits line 1");
    commitIn(pb, "README.md", "# from b\n", "b edits line 1");
    const start = git(p.repo, "rev-parse", "roadmap");

    const first = p.run("worktrees", "merge", "--task-id", "a");
    expect(first.status, first.stdout).toBe(0);
    expect(first.json.result).toMatchObject({ task_id: "a", status: "merged", conflicts: [] });
    const mergeCommit = first.json.result.merge_commit;
    expect(git(p.repo, "rev-parse", "roadmap")).toBe(mergeCommit);
    expect(git(p.repo, "log", "-1", "--format=%P|%s", "roadmap")).toBe(
      `${start} ${tipA}|merge: complete a`,
    );
    expect(p.run("tasks", "show", "a").json.result.status).toBe("completed");
    expect(p.run("tasks", "show", "after-a").json.result.ready).toBe(true);

    const second = p.run("worktrees", "merge", "--task-id", "b");
    expect(second.status, second.stdout).toBe(0);
    expect(second.json.result).toEqual({
      task_id: "b",
      status: "conflict",
      merge_commit: null,
      conflicts: ["README.md"],
      already_merged: false,
    });
    expect(git(p.repo, "rev-parse", "roadmap")).toBe(mergeCommit);
    for (const dir of [p.repo, pa, pb]) noMergeState(dir);
    expect(existsSync(pb)).toBe(true);
    expect(p.run("tasks", "show", "b").json.result.status).toBe("conflict");

    const conn = db(p);
    const message = conn
      .prepare(
        "SELECT to_agent, to_kind, content FROM agent_message WHERE message_type = 'error_notification'",
      )
      .get() as { to_agent: string; to_kind: string; content: string };
    const rows = conn
      .prepare("SELECT task_id, status, merge_commit FROM git_worktree_tracker ORDER BY task_id")
      .all();
    const attempt = conn
      .prepare("SELECT status FROM orchestrator_task WHERE task_id = 'b'")
      .get() as { status: string };
    conn.close();
    expect(message.to_agent).toBe("code_developer");
    expect(message.to_kind).toBe("type");
    expect(JSON.parse(message.content)).toMatchObject({ task_id: "b", conflicts: ["README.md"] });
    expect(rows).toEqual([
      { task_id: "a", status: "merged", merge_commit: mergeCommit },
      { task_id: "b", status: "conflict", merge_commit: null },
    ]);
    expect(attempt.status).toBe("conflict");

    // The agent rebases in its worktree; the merge then goes through.
    git(pb, "fetch", "-q", p.repo, "roadmap");
    git(pb, "reset", "-q", "--hard", mergeCommit);
    commitIn(pb, "README.md", "# from a and b\n", "b, rebased");
    const third = p.run("worktrees", "merge", "--task-id", "b");
    expect(third.json.result.status).toBe("merged");
    expect(p.run("tasks", "show", "b").json.result.status).toBe("completed");
    expectConsistent(p);
  });

  it("keeps a checkout of the integration branch in step, and refuses while it is dirty", () => {
    const p = project(["a", "b"]);
    const pa = p.run("worktrees", "create", "--task-id", "a").json.result.worktree_path;
    const pb = p.run("worktrees", "create", "--task-id", "b").json.result.worktree_path;
    commitIn(pa, "a.txt", "a\n", "a");
    commitIn(pb, "b.txt", "b\n", "b");
    git(p.repo, "checkout", "-q", "roadmap");

    expect(p.run("worktrees", "merge", "--task-id", "a").json.result.status).toBe("merged");
    expect(readFileSync(join(p.repo, "a.txt"), "utf8")).toBe("a\n");
    expect(git(p.repo, "status", "--porcelain")).toBe("");

    writeFileSync(join(p.repo, "README.md"), "local edit\n");
    const before = git(p.repo, "rev-parse", "roadmap");
    const refused = p.run("worktrees", "merge", "--task-id", "b");
    expect(refused.status).toBe(9);
    expect(refused.json.error.code).toBe("GitError");
    expect(refused.json.error.message).toMatch(/uncommitted changes/);
    expect(git(p.repo, "rev-parse", "roadmap")).toBe(before);
    expect(readFileSync(join(p.repo, "README.md"), "utf8")).toBe("local edit\n");
  });
});

describe("worktrees cleanup", () => {
  it("refuses an unmerged branch, removes merged ones, and --force removes one task's", () => {
    const p = project(["merged", "unmerged"]);
    const pm = p.run("worktrees", "create", "--task-id", "merged").json.result.worktree_path;
    const pu = p.run("worktrees", "create", "--task-id", "unmerged").json.result.worktree_path;
    commitIn(pm, "m.txt", "m\n", "m");
    commitIn(pu, "u.txt", "u\n", "u");
    expect(p.run("worktrees", "merge", "--task-id", "merged").json.result.status).toBe("merged");

    const one = p.run("worktrees", "cleanup", "--task-id", "unmerged");
    expect(one.json.result.removed).toEqual([]);
    expect(one.json.result.kept).toEqual([
      { task_id: "unmerged", reason: expect.stringMatching(/1 commit not merged into roadmap/) },
    ]);
    expect(existsSync(pu)).toBe(true);
    expect(taskBranches(p.repo)).toContain(BRANCH("unmerged"));

    const swept = p.run("worktrees", "cleanup", "--merged");
    expect(swept.json.result.removed).toEqual(["merged"]);
    expect(swept.json.result.kept.map((k: { task_id: string }) => k.task_id)).toEqual(["unmerged"]);
    expect(existsSync(pm)).toBe(false);
    expect(taskBranches(p.repo)).toEqual([BRANCH("unmerged")]);

    expect(p.run("worktrees", "cleanup", "--force").status).toBe(2);
    const forced = p.run("worktrees", "cleanup", "--task-id", "unmerged", "--force");
    expect(forced.json.result).toEqual({ removed: ["unmerged"], kept: [], already_removed: [] });
    expect(taskBranches(p.repo)).toEqual([]);
    expect(gitWorktrees(p.repo)).toHaveLength(1);
  });
});

describe("crash safety", () => {
  it("SIGKILL in the middle of create, then list: the database and git agree again", async () => {
    const p = project(["before-add", "after-add"]);
    const bin = stoppingGit(p);
    expect(p.run("worktrees", "create", "--task-id", "before-add").status).toBe(0); // makes roadmap
    expect(p.run("worktrees", "cleanup", "--task-id", "before-add").status).toBe(0);

    // Killed before git ran: the `creating` row is rolled back, nothing left in git.
    await killAt(
      p,
      bin,
      ["worktrees", "create", "--task-id", "before-add"],
      "worktree add",
      "before",
    );
    expect(expectConsistent(p)).toHaveLength(0);
    expect(events(p, "worktree_create_rolled_back").map((e) => e.task_id)).toEqual(["before-add"]);

    // Killed after git made the worktree but before the database heard: the row is finished.
    await killAt(
      p,
      bin,
      ["worktrees", "create", "--task-id", "after-add"],
      "worktree add",
      "after",
    );
    const views = expectConsistent(p);
    expect(views.map((w) => [w.task_id, w.status])).toEqual([["after-add", "active"]]);
    expect(events(p, "worktree_created").at(-1)).toMatchObject({
      task_id: "after-add",
      repaired: true,
    });

    // git killed inside its own add leaves a registration locked "initializing": undone too.
    const half = join(p.worktrees, "task-half");
    expect(p.run("tasks", "add", "half", "--title", "half").status).toBe(0);
    const conn = db(p);
    conn
      .prepare(
        `INSERT INTO git_worktree_tracker (task_id, branch, worktree_path, base_branch, status, created_at, updated_at)
         VALUES ('half', ?, ?, 'roadmap', 'creating', 0, 0)`,
      )
      .run(BRANCH("half"), half);
    conn.close();
    git(p.repo, "worktree", "add", "-q", "--no-track", "-b", BRANCH("half"), half, "roadmap");
    git(p.repo, "worktree", "lock", "--reason", "initializing", half);
    expect(expectConsistent(p)).toHaveLength(1);
    expect(existsSync(half)).toBe(false);
    expect(events(p, "worktree_create_rolled_back").at(-1)).toMatchObject({
      task_id: "half",
      branch_deleted: true,
    });

    // The next create after a rolled-back one simply works.
    expect(p.run("worktrees", "create", "--task-id", "before-add").status).toBe(0);
    expect(expectConsistent(p)).toHaveLength(2);
  });

  it("SIGKILL after a random delay during create, many rounds: list always repairs", async () => {
    const ids = Array.from({ length: 6 }, (_, i) => `r${i}`);
    const p = project(ids);
    for (const [i, id] of ids.entries()) {
      await killDuring(p, ["worktrees", "create", "--task-id", id], 150 + i * 60);
      expectConsistent(p);
      expect(p.run("worktrees", "create", "--task-id", id, "--reuse").status).toBe(0);
    }
    expect(expectConsistent(p)).toHaveLength(ids.length);
  });

  it("SIGKILL in the middle of merge, then list: merged completely or not at all", async () => {
    const stops: [string, "before" | "after"][] = [
      ["merge-tree", "before"],
      ["commit-tree", "after"],
      ["update-ref", "before"],
      ["update-ref", "after"],
    ];
    const ids = stops.map((_, i) => `m${i}`);
    const p = project(ids);
    const bin = stoppingGit(p);
    for (const [i, id] of ids.entries()) {
      const [stopAt, when] = stops[i]!;
      const path = p.run("worktrees", "create", "--task-id", id).json.result.worktree_path;
      const tip = commitIn(path, `${id}.txt`, `${id}\n`, id);
      const before = git(p.repo, "rev-parse", "roadmap");
      await killAt(p, bin, ["worktrees", "merge", "--task-id", id], stopAt, when);
      const views = expectConsistent(p);
      const after = git(p.repo, "rev-parse", "roadmap");
      const status = p.run("tasks", "show", id).json.result.status;
      const row = views.find((w) => w.task_id === id);
      if (stopAt === "update-ref" && when === "after") {
        // The ref moved before the kill: the merge is finished from the record.
        expect(git(p.repo, "log", "-1", "--format=%P|%s", "roadmap")).toBe(
          `${before} ${tip}|merge: complete ${id}`,
        );
        expect(status).toBe("completed");
        expect(row).toMatchObject({ status: "merged", merge_commit: after });
      } else {
        expect(after).toBe(before);
        expect(status).not.toBe("completed");
        expect(row?.status).toBe("active");
        const r = p.run("worktrees", "merge", "--task-id", id);
        expect(r.json.result.status).toBe("merged");
      }
    }
    // Only a kill after the `merging` record (just before update-ref) has anything to roll back.
    expect(events(p, "worktree_merge_rolled_back").map((e) => e.task_id)).toEqual(["m2"]);
    expect(git(p.repo, "rev-list", "--count", "--merges", "roadmap")).toBe(String(ids.length));
    expectConsistent(p);
  });
});

function writePlan(p: Project): string {
  const file = join(p.base, "plan.yaml");
  writeFileSync(
    file,
    "tasks:\n  - id: a\n    title: task a\n  - id: b\n    title: task b\n  - id: after-a\n    title: after a\n    depends_on: [a]\n",
  );
  return file;
}
