// worktrees create and merge on a generated repository of 20,000 files, each beside the bare
// git commands it wraps, measured in the same run.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { importPlan, openOrchestrator } from "../packages/core/src/index.js";
import { createWorktree, mergeWorktree } from "../packages/core/src/worktrees/index.js";
import { line, report, summarize } from "./lib.js";

const FILES = 20_000;
const ROUNDS = 5;

const git = (cwd: string, ...args: string[]) =>
  execFileSync("git", args, { cwd, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 }).trim();

const base = mkdtempSync(join(tmpdir(), "orch-bench-wt-"));
const repo = join(base, "repo");
try {
  mkdirSync(repo);
  git(repo, "init", "-q", "-b", "main");
  git(repo, "config", "user.name", "Bench");
  git(repo, "config", "user.email", "bench@example.com");
  for (let i = 0; i < FILES; i++) {
    const dir = join(repo, "src", `d${Math.floor(i / 200)}`);
    if (i % 200 === 0) mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `f${i}.ts`), `export const v${i} = ${i};\n`);
  }
  git(repo, "add", "-A");
  git(repo, "commit", "-q", "-m", "20,000 files");
  git(repo, "branch", "roadmap");
  line("repository", `${FILES.toLocaleString("en-US")} files`);

  const o = openOrchestrator({ repo, cwd: repo });
  const ids = Array.from({ length: ROUNDS * 2 }, (_, i) => `bench-${i}`);
  importPlan(o, { tasks: ids.map((id) => ({ id, title: id, depends_on: [], priority: 100 })) });

  // create: interleaved with the bare command so both see the same disk cache state.
  const ours: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    let t = performance.now();
    execFileSync(
      "git",
      [
        "worktree",
        "add",
        "-q",
        "--no-track",
        "-b",
        `bare-${i}`,
        join(base, "worktrees", `bare-${i}`),
        "roadmap",
      ],
      { cwd: repo },
    );
    bare.push(performance.now() - t);
    t = performance.now();
    await createWorktree(o, ids[i]!);
    ours.push(performance.now() - t);
  }
  const c = summarize(ours).median;
  const b = summarize(bare).median;
  report("worktrees create (core, 20k files), median", c, b, "git worktree add");
  line("  create overhead over bare git", `${(((c - b) / b) * 100).toFixed(1)} % (budget 10 %)`);

  // merge: a one-file change on a task branch, against merge-tree + commit-tree + update-ref.
  const mergeOurs: number[] = [];
  const mergeBare: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const wt = join(base, "worktrees", `task-${ids[i]}`);
    writeFileSync(join(wt, `change-${i}.txt`), `${i}\n`);
    git(wt, "add", ".");
    git(wt, "commit", "-q", "-m", `change ${i}`);
    let t = performance.now();
    const r = await mergeWorktree(o, ids[i]!);
    mergeOurs.push(performance.now() - t);
    if (r.status !== "merged") throw new Error(`bench merge ${ids[i]} did not merge`);

    const bw = join(base, "worktrees", `bare-${i}`);
    writeFileSync(join(bw, `bare-change-${i}.txt`), `${i}\n`);
    git(bw, "add", ".");
    git(bw, "commit", "-q", "-m", `bare change ${i}`);
    t = performance.now();
    const old = git(repo, "rev-parse", "refs/heads/roadmap");
    const tip = git(repo, "rev-parse", `refs/heads/bare-${i}`);
    const tree = git(repo, "merge-tree", "--write-tree", old, tip);
    const commit = git(repo, "commit-tree", "-p", old, "-p", tip, "-m", `merge: bare ${i}`, tree);
    git(repo, "update-ref", "refs/heads/roadmap", commit, old);
    mergeBare.push(performance.now() - t);
  }
  report(
    "worktrees merge (core, small branch), median",
    summarize(mergeOurs).median,
    summarize(mergeBare).median,
    "merge-tree+commit-tree+update-ref",
  );
  o.close();
} finally {
  rmSync(base, { recursive: true, force: true });
}
