import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import type { WorktreeView } from "../../packages/core/src/index.js";
import { openDatabase } from "../../packages/db/src/index.js";
import { CLI, type CliResult, cli } from "./cli.js";
import { git, tempRepo } from "./git.js";
import { tempDir } from "./tmp.js";

export const BRANCH = (id: string) => `roadmap-implementation_task-${id}`;

export interface Project {
  base: string;
  repo: string;
  worktrees: string;
  db: string;
  run: (...args: string[]) => CliResult;
}

/** A repository at <tmp>/repo, so the default worktree root ../worktrees is <tmp>/worktrees. */
export function project(taskIds: readonly string[] = []): Project {
  const base = tempDir("orch-wt-");
  const repo = tempRepo(join(base, "repo"));
  const run = (...args: string[]) => cli(["--repo", repo, "--json", ...args], { cwd: repo });
  for (const id of taskIds) expect(run("tasks", "add", id, "--title", `task ${id}`).status).toBe(0);
  return {
    base,
    repo,
    worktrees: join(base, "worktrees"),
    db: join(repo, ".orchestrator", "orchestrator.db"),
    run,
  };
}

export function taskStatus(p: Project, id: string): string {
  return p.run("tasks", "show", id).json.result.status;
}

export function commitIn(dir: string, file: string, content: string, message: string): string {
  writeFileSync(join(dir, file), content);
  git(dir, "add", file);
  git(dir, "commit", "-q", "-m", message);
  return git(dir, "rev-parse", "HEAD");
}

export function gitWorktrees(repo: string): string[] {
  return git(repo, "worktree", "list", "--porcelain")
    .split("\n")
    .filter((l) => l.startsWith("worktree "))
    .map((l) => l.slice("worktree ".length));
}

export function taskBranches(repo: string): string[] {
  const out = git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/");
  return out.split("\n").filter((b) => b.startsWith("roadmap-implementation_task-"));
}

export function noMergeState(dir: string): void {
  expect(() => git(dir, "rev-parse", "--verify", "-q", "MERGE_HEAD")).toThrow();
  expect(git(dir, "status", "--porcelain", "--untracked-files=no")).toBe("");
}

export function db(p: Project) {
  return openDatabase(join(p.repo, ".orchestrator", "orchestrator.db"));
}

/**
 * A `git` on PATH that stops (sleeps) just before or just after the git command matching
 * $STOP_AT, touching $STOP_MARKER when it gets there: a SIGKILL then lands exactly there.
 */
export function stoppingGit(p: Project): string {
  const bin = join(p.base, "stop-bin");
  mkdirSync(bin, { recursive: true });
  const real = (process.env.PATH ?? "")
    .split(":")
    .map((dir) => join(dir, "git"))
    .find((file) => existsSync(file))!;
  writeFileSync(
    join(bin, "git"),
    `#!/bin/sh
case " $* " in
  *" $STOP_AT "*)
    if [ "$STOP_WHEN" = before ]; then touch "$STOP_MARKER"; sleep 60; fi
    "${real}" "$@"; rc=$?
    touch "$STOP_MARKER"; sleep 60; exit $rc ;;
esac
exec "${real}" "$@"
`,
  );
  chmodSync(join(bin, "git"), 0o755);
  return bin;
}

/** Runs the CLI in its own process group and SIGKILLs the whole group once git reached the stop. */
export async function killAt(
  p: Project,
  bin: string,
  args: string[],
  stopAt: string,
  when: "before" | "after",
): Promise<void> {
  const marker = join(p.base, `stop-${Math.random().toString(36).slice(2)}`);
  const child = spawn(process.execPath, [CLI, "--repo", p.repo, "--json", ...args], {
    cwd: p.repo,
    env: {
      ...process.env,
      NO_COLOR: "1",
      PATH: `${bin}:${process.env.PATH}`,
      STOP_AT: stopAt,
      STOP_WHEN: when,
      STOP_MARKER: marker,
    },
    stdio: "ignore",
    detached: true,
  });
  const exited = new Promise((r) => child.on("exit", r));
  const deadline = Date.now() + 20_000;
  while (!existsSync(marker)) {
    if (Date.now() > deadline) throw new Error(`git never reached ${when} ${stopAt}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  process.kill(-child.pid!, "SIGKILL");
  await exited;
}

/** Runs the CLI in its own process group and SIGKILLs the whole group after `afterMs`. */
export async function killDuring(p: Project, args: string[], afterMs: number): Promise<void> {
  const child = spawn(process.execPath, [CLI, "--repo", p.repo, "--json", ...args], {
    cwd: p.repo,
    env: { ...process.env, NO_COLOR: "1" },
    stdio: "ignore",
    detached: true,
  });
  const exited = new Promise((r) => child.on("exit", r));
  await new Promise((r) => setTimeout(r, afterMs));
  try {
    process.kill(-child.pid!, "SIGKILL");
  } catch {
    // it had finished already
  }
  await exited;
}

export function events(p: Project, kind: string): Record<string, unknown>[] {
  const conn = db(p);
  try {
    return conn
      .prepare("SELECT task_id, detail FROM orchestrator_event WHERE kind = ? ORDER BY id")
      .all(kind)
      .map((row) => {
        const e = row as { task_id: string; detail: string | null };
        return { task_id: e.task_id, ...JSON.parse(e.detail ?? "{}") };
      });
  } finally {
    conn.close();
  }
}

/** After `list`: every row is settled, matches git, and git has nothing the database lacks. */
export function expectConsistent(p: Project): WorktreeView[] {
  const r = p.run("worktrees", "list");
  expect(r.status, r.stderr + r.stdout).toBe(0);
  const views = r.json.result.worktrees as WorktreeView[];
  for (const w of views) {
    expect(["active", "merged", "conflict"], JSON.stringify(w)).toContain(w.status);
    expect(w.problems, JSON.stringify(w)).toEqual([]);
    expect(w.registered && w.directory_exists && w.locked === null).toBe(true);
  }
  const registered = gitWorktrees(p.repo).slice(1);
  expect(registered.sort()).toEqual(views.map((w) => w.worktree_path).sort());
  const branches = taskBranches(p.repo);
  expect(branches.sort()).toEqual(views.map((w) => w.branch).sort());
  for (const dir of gitWorktrees(p.repo)) noMergeState(dir);
  const conn = db(p);
  try {
    const unsettled = conn
      .prepare(
        "SELECT count(*) AS n FROM git_worktree_tracker WHERE status IN ('creating','merging')",
      )
      .get() as { n: number };
    expect(unsettled.n).toBe(0);
  } finally {
    conn.close();
  }
  return views;
}
