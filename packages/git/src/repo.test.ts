import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { git, tempRepo } from "../../../test/helpers/git.js";
import { tempDir } from "../../../test/helpers/tmp.js";
import { GitError } from "./errors.js";
import { GitRepo } from "./repo.js";

function commitFile(cwd: string, file: string, content: string, message: string): string {
  writeFileSync(join(cwd, file), content);
  git(cwd, "add", file);
  git(cwd, "commit", "-q", "-m", message);
  return git(cwd, "rev-parse", "HEAD");
}

function setup() {
  const repo = tempRepo();
  const root = tempDir("orch-wt-");
  return { repo, root, g: new GitRepo(repo) };
}

describe("GitRepo", () => {
  it("a stale ref lock: lockFiles finds it, and updateRef fails naming it with the ref unmoved", async () => {
    const { repo, g } = setup();
    const previous = git(repo, "rev-parse", "main");
    const next = commitFile(repo, "x.txt", "x\n", "x");
    git(repo, "update-ref", "refs/heads/main", previous);
    const lock = join(repo, ".git", "refs", "heads", "main.lock");
    writeFileSync(lock, "");
    writeFileSync(join(repo, ".git", "index.lock"), "");
    expect(await g.lockFiles(repo, { index: false, branch: "main" })).toEqual([lock]);
    expect(await g.lockFiles(repo, { index: true })).toEqual([join(repo, ".git", "index.lock")]);
    const error = await g.updateRef("refs/heads/main", next, previous, "test").catch((e) => e);
    expect(error).toBeInstanceOf(GitError);
    expect(error.message).toContain(`git's lock file ${lock} exists`);
    expect(error.details).toMatchObject({ ref: "refs/heads/main", lock_file: lock });
    expect(git(repo, "rev-parse", "main")).toBe(previous);
  });

  it("onFirstParentChain: the branch's own commits, not those a merge brought in", async () => {
    const { repo, g } = setup();
    const root = git(repo, "rev-parse", "main");
    git(repo, "checkout", "-q", "-b", "side");
    const side = commitFile(repo, "s.txt", "s\n", "side work");
    git(repo, "checkout", "-q", "main");
    const own = commitFile(repo, "m.txt", "m\n", "main work");
    git(repo, "merge", "-q", "--no-ff", "-m", "merge side", "side");
    const tip = git(repo, "rev-parse", "main");
    expect(await g.onFirstParentChain(root, tip)).toBe(true);
    expect(await g.onFirstParentChain(own, tip)).toBe(true);
    expect(await g.onFirstParentChain(tip, tip)).toBe(true);
    expect(await g.onFirstParentChain(side, tip)).toBe(false);
    await expect(g.onFirstParentChain("--all", tip)).rejects.toBeInstanceOf(GitError);
  });

  it("discardWorktree takes apart a half-made worktree git itself refuses to remove", async () => {
    const { repo, root, g } = setup();
    const path = await g.addWorktree({
      root,
      path: join(root, "half"),
      branch: "b-half",
      base: "main",
    });
    git(repo, "worktree", "lock", "--reason", "initializing", path);
    writeFileSync(join(path, ".git"), ""); // killed inside `git worktree add`
    await expect(g.removeWorktree(root, path, { force: true })).rejects.toBeInstanceOf(GitError);
    await g.discardWorktree(root, path);
    expect(existsSync(path)).toBe(false);
    expect((await g.listWorktrees()).map((w) => w.branch)).toEqual(["main"]);
    // The same path can be used again.
    await g.addWorktree({ root, path, branch: "b-again", base: "main" });
    expect(existsSync(join(path, "README.md"))).toBe(true);
  });

  it("removeStaleBranchLock removes a ref lock a killed git left, once it is old enough", async () => {
    const { repo, g } = setup();
    git(repo, "branch", "b-stale");
    const lock = join(repo, ".git", "refs", "heads", "b-stale.lock");
    writeFileSync(lock, "");
    const tip = git(repo, "rev-parse", "b-stale");
    expect(await g.deleteBranchIfAt("b-stale", tip)).toBe(false);
    expect(await g.removeStaleBranchLock("b-stale", 300)).toBe(lock);
    expect(existsSync(lock)).toBe(false);
    expect(await g.deleteBranchIfAt("b-stale", tip)).toBe(true);
    expect(await g.removeStaleBranchLock("b-stale", 300)).toBeUndefined();
  });

  it("adds a worktree on a new local branch that tracks nothing, and lists it", async () => {
    const { repo, root, g } = setup();
    const path = await g.addWorktree({
      root,
      path: join(root, "task-a"),
      branch: "b-a",
      base: "main",
    });
    expect(existsSync(join(path, "README.md"))).toBe(true);
    const list = await g.listWorktrees();
    expect(list.map((w) => w.branch)).toEqual(["main", "b-a"]);
    expect(git(repo, "config", "--list", "--local")).not.toMatch(/^branch\./m);
  });

  it("serializes concurrent adds in one process", async () => {
    const { root, g } = setup();
    const paths = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        g.addWorktree({ root, path: join(root, `t${i}`), branch: `b${i}`, base: "main" }),
      ),
    );
    expect(new Set(paths).size).toBe(6);
    expect((await g.listWorktrees()).length).toBe(7);
  });

  it("refuses a path outside the root and a hostile branch before running git", async () => {
    const { root, g } = setup();
    await expect(
      g.addWorktree({ root, path: join(root, "..", "x"), branch: "b", base: "main" }),
    ).rejects.toThrow(GitError);
    await expect(
      g.addWorktree({ root, path: join(root, "x"), branch: "--upload-pack=x", base: "main" }),
    ).rejects.toThrow(GitError);
    expect((await g.listWorktrees()).length).toBe(1);
  });

  it("merges --no-ff without a working tree, and reports conflicts without moving the ref", async () => {
    const { repo, root, g } = setup();
    await g.createBranch("roadmap", "main");
    const a = await g.addWorktree({ root, path: join(root, "a"), branch: "ta", base: "roadmap" });
    const b = await g.addWorktree({ root, path: join(root, "b"), branch: "tb", base: "roadmap" });
    const tipA = commitFile(a, "README.md", "from a\n", "a");
    commitFile(b, "README.md", "from b\n", "b");
    const before = git(repo, "rev-parse", "roadmap");

    const merged = await g.mergeNoFf({
      into: "roadmap",
      branch: "ta",
      message: "merge: complete a",
    });
    expect(merged.status).toBe("merged");
    if (merged.status !== "merged") return;
    expect(git(repo, "rev-parse", "roadmap")).toBe(merged.commit);
    expect(git(repo, "log", "-1", "--format=%P%n%s", "roadmap")).toBe(
      `${before} ${tipA}\nmerge: complete a`,
    );

    const conflict = await g.mergeNoFf({
      into: "roadmap",
      branch: "tb",
      message: "merge: complete b",
    });
    expect(conflict).toEqual({
      status: "conflict",
      conflicts: ["README.md"],
      previous: merged.commit,
    });
    expect(git(repo, "rev-parse", "roadmap")).toBe(merged.commit);
    expect(git(repo, "status", "--porcelain")).toBe("");

    expect(await g.isBranchMerged("ta", "roadmap")).toBe(true);
    expect(await g.isBranchMerged("tb", "roadmap")).toBe(false);
    expect(await g.aheadBehind("tb", "roadmap")).toEqual({ ahead: 1, behind: 2 });
    expect(await g.mergeNoFf({ into: "roadmap", branch: "ta", message: "x" })).toMatchObject({
      status: "up_to_date",
    });
  });

  it("recomputes the merge when the target moved underneath (compare-and-swap)", async () => {
    const { repo, root, g } = setup();
    await g.createBranch("roadmap", "main");
    const a = await g.addWorktree({ root, path: join(root, "a"), branch: "ta", base: "roadmap" });
    writeFileSync(join(a, "a.txt"), "a\n");
    git(a, "add", "a.txt");
    git(a, "commit", "-q", "-m", "a");
    let moved = false;
    const result = await g.mergeNoFf({
      into: "roadmap",
      branch: "ta",
      message: "merge: complete a",
      beforeUpdate: () => {
        if (moved) return;
        moved = true;
        // Someone else advances roadmap between our merge-tree and our update-ref.
        const other = git(repo, "commit-tree", "-p", "roadmap", "-m", "other", "roadmap^{tree}");
        git(repo, "update-ref", "refs/heads/roadmap", other);
      },
    });
    expect(result).toMatchObject({ status: "merged", attempts: 2 });
    expect(git(repo, "log", "--first-parent", "--format=%s", "roadmap")).toBe(
      "merge: complete a\nother\ninitial",
    );
  });

  it("creates a branch only when missing, removes worktrees and deletes branches", async () => {
    const { root, g } = setup();
    expect(await g.createBranch("roadmap", "main")).toBe(true);
    expect(await g.createBranch("roadmap", "main")).toBe(false);
    const p = await g.addWorktree({ root, path: join(root, "a"), branch: "ta", base: "roadmap" });
    await g.removeWorktree(root, p);
    expect(existsSync(p)).toBe(false);
    await g.deleteBranch("ta");
    expect(await g.branchCommit("ta")).toBeUndefined();
    await expect(g.run(["rev-parse", "--verify", "nope"])).rejects.toThrow(/exit 128/);
  });
});
