import { existsSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { GitPluginError, simpleGit } from "simple-git";
import { GitError } from "./errors.js";
import { parseMergeTree, parseWorktreeList, type WorktreeEntry } from "./parse.js";
import { isObjectId, requireBranchName, requireInside } from "./validate.js";

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface RunOptions {
  /** Directory git runs in (default: the repository). */
  cwd?: string;
  /** Exit statuses that are answers, not failures (e.g. 1 for `diff --quiet`). */
  ok?: readonly number[];
  /** Written to git's standard input. */
  input?: string;
}

export interface GitRepoOptions {
  /** The git program (default `git` on PATH). */
  binary?: string;
}

/** The committer identity variables a caller may set for the merge commits we write. */
const IDENTITY_ENV = [
  "GIT_AUTHOR_NAME",
  "GIT_AUTHOR_EMAIL",
  "GIT_AUTHOR_DATE",
  "GIT_COMMITTER_NAME",
  "GIT_COMMITTER_EMAIL",
  "GIT_COMMITTER_DATE",
];

const ZERO_OID = "0000000000000000000000000000000000000000";

export interface AddWorktreeOptions {
  /** The directory every worktree must stay inside. */
  root: string;
  path: string;
  branch: string;
  /** Start point when the branch does not exist yet (it is then created, never tracking a remote). */
  base: string;
}

export type MergeTreeResult =
  | { clean: true; tree: string }
  | { clean: false; tree: string; conflicts: string[] };

export type MergeResult =
  | { status: "merged"; commit: string; previous: string; attempts: number }
  | { status: "conflict"; conflicts: string[]; previous: string }
  | { status: "up_to_date"; previous: string };

export interface MergeOptions {
  /** Branch merged into (its ref moves). */
  into: string;
  /** Branch merged (second parent). */
  branch: string;
  message: string;
  /** Compare-and-swap attempts when the target ref moves underneath us. */
  maxAttempts?: number;
  /** Called with the new commit and the ref's current value just before the ref is moved. */
  beforeUpdate?: (commit: string, previous: string) => void | Promise<void>;
}

/** Adds are serialized per repository inside this process (callers serialize across processes). */
const addQueues = new Map<string, Promise<unknown>>();

/**
 * One repository's worktree, branch and merge primitives. Git is always run with an argument
 * list (never a shell string), and every ref or path that comes from outside is validated
 * before it reaches git.
 */
export class GitRepo {
  readonly dir: string;

  constructor(
    dir: string,
    private readonly options: GitRepoOptions = {},
  ) {
    this.dir = resolve(dir);
  }

  /** Runs git with `args`; a non-zero exit not listed in `ok` is a GitError with stderr. */
  async run(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const cwd = options.cwd ?? this.dir;
    if (!existsSync(cwd)) {
      throw new GitError(`directory ${cwd} does not exist`, { cwd, args: [...args] });
    }
    let exitCode = 0;
    let stderr = "";
    const git = simpleGit({
      baseDir: cwd,
      allowEnvironment: IDENTITY_ENV,
      ...(options.input !== undefined ? { input: () => options.input } : {}),
      ...(this.options.binary ? { binary: this.options.binary } : {}),
      errors: (error, result) => {
        exitCode = result.exitCode;
        stderr = Buffer.concat(result.stdErr).toString("utf8");
        // A refusal by simple-git itself (its argument or environment guard) stays an error;
        // git's own exit status is judged below against `ok`.
        if (error instanceof GitPluginError) return error;
        return result.exitCode >= 0 && result.exitCode < 256 ? undefined : error;
      },
    });
    let stdout: string;
    try {
      stdout = await git.raw([...args]);
    } catch (error) {
      throw new GitError(`git ${args[0]} could not run: ${(error as Error).message}`, {
        args: [...args],
        cwd,
      });
    }
    if (exitCode !== 0 && !(options.ok ?? []).includes(exitCode)) {
      throw new GitError(
        `git ${args.join(" ")} failed (exit ${exitCode}): ${stderr.trim() || stdout.trim() || "no output"}`,
        { args: [...args], cwd, exit_code: exitCode, stderr: stderr.trim() },
      );
    }
    return { stdout, stderr, exitCode };
  }

  /**
   * The commit a ref or revision names, or undefined when it names none. (`cat-file
   * --batch-check` always prints an answer: simple-git waits 50 ms more for a silent command.)
   */
  async resolveCommit(rev: string): Promise<string | undefined> {
    if (rev.startsWith("-") || /[\s]/.test(rev)) {
      throw new GitError(`invalid revision ${JSON.stringify(rev)}`, { rev });
    }
    const r = await this.run(["cat-file", "--batch-check=%(objectname) %(objecttype)"], {
      input: `${rev}^{commit}\n`,
    });
    const [oid, type] = r.stdout.trim().split(" ");
    return type === "commit" && isObjectId(oid) ? oid : undefined;
  }

  /** Runs ref updates as one all-or-nothing transaction (`update-ref --stdin`); false if refused. */
  private async refTransaction(lines: readonly string[], reason: string): Promise<boolean> {
    return (await this.tryRefTransaction(lines, reason)).exitCode === 0;
  }

  private tryRefTransaction(lines: readonly string[], reason: string): Promise<RunResult> {
    return this.run(["update-ref", "--stdin", "-m", reason], {
      input: `start\n${lines.join("\n")}\nprepare\ncommit\n`,
      ok: [1, 128],
    });
  }

  /**
   * Lock files git left behind that would make updating a worktree's index (`index.lock`) or
   * a branch (`refs/heads/<branch>.lock`) fail: the ones that exist, as absolute paths. A lock
   * file is either held by a running git process or stale (a git process crashed).
   */
  async lockFiles(
    worktree: string,
    options: { index: boolean; branch?: string },
  ): Promise<string[]> {
    const paths = options.index ? ["index.lock"] : [];
    if (options.branch !== undefined) {
      paths.push(`refs/heads/${requireBranchName(options.branch)}.lock`);
    }
    if (paths.length === 0) return [];
    const r = await this.run(["rev-parse", ...paths.flatMap((p) => ["--git-path", p])], {
      cwd: worktree,
    });
    return r.stdout
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line.length > 0)
      .map((line) => resolve(worktree, line))
      .filter((file) => existsSync(file));
  }

  /**
   * Why a checkout could not be moved from `from` to `to` as `fastForwardCheckout` would
   * (e.g. an untracked file in the way), or undefined when it could: a dry run that changes
   * nothing.
   */
  async fastForwardRefusal(
    worktree: string,
    from: string,
    to: string,
  ): Promise<string | undefined> {
    const r = await this.run(["read-tree", "-n", "-m", "-u", from, to], {
      cwd: worktree,
      ok: [1, 128],
    });
    return r.exitCode === 0 ? undefined : r.stderr.trim() || `git read-tree exit ${r.exitCode}`;
  }

  /** The commit a local branch points at, or undefined when the branch does not exist. */
  branchCommit(branch: string): Promise<string | undefined> {
    return this.resolveCommit(`refs/heads/${requireBranchName(branch)}`);
  }

  /** Creates a local branch at `startPoint` only if it does not exist yet; returns whether it did. */
  async createBranch(branch: string, startPoint: string): Promise<boolean> {
    requireBranchName(branch);
    const commit = await this.resolveCommit(startPoint);
    if (!commit) {
      throw new GitError(`cannot create branch ${branch}: ${startPoint} names no commit`, {
        branch,
        start_point: startPoint,
      });
    }
    // The all-zero old value makes this a create-only compare-and-swap.
    const line = `update refs/heads/${branch} ${commit} ${ZERO_OID}`;
    if (await this.refTransaction([line], `orchestrator: create ${branch}`)) return true;
    if (await this.branchCommit(branch)) return false;
    throw new GitError(`cannot create branch ${branch}`, { branch });
  }

  /**
   * The branch a fresh integration branch starts from: origin's default branch, else `main`,
   * else `master`, else whatever the repository's HEAD is on.
   */
  async defaultBranch(): Promise<string> {
    const origin = await this.run(
      ["symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD"],
      {
        ok: [1, 128],
      },
    );
    const remote = origin.stdout.trim();
    if (origin.exitCode === 0 && remote) {
      const local = remote.replace(/^origin\//, "");
      if (await this.branchCommit(local).catch(() => undefined)) return local;
      return remote;
    }
    for (const name of ["main", "master"]) if (await this.branchCommit(name)) return name;
    const head = await this.run(["symbolic-ref", "--quiet", "--short", "HEAD"], { ok: [1, 128] });
    if (head.exitCode === 0 && head.stdout.trim()) return head.stdout.trim();
    return "HEAD";
  }

  /** `git worktree list --porcelain -z`, parsed. The first entry is the main worktree. */
  async listWorktrees(): Promise<WorktreeEntry[]> {
    const r = await this.run(["worktree", "list", "--porcelain", "-z"]);
    return parseWorktreeList(r.stdout);
  }

  /** Forgets registrations whose directory is gone (`git worktree prune`). */
  async pruneWorktrees(): Promise<void> {
    await this.run(["worktree", "prune"]);
  }

  /**
   * Adds a worktree at `path` (which must stay inside `root`) on `branch`: the existing local
   * branch, or a new one from `base` that tracks nothing. Adds are serialized within this
   * process; a transient lock held by another git process is retried.
   */
  async addWorktree(options: AddWorktreeOptions): Promise<string> {
    const path = requireInside(options.root, options.path);
    requireBranchName(options.branch);
    const previous = addQueues.get(this.dir) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.addNow(path, options));
    addQueues.set(this.dir, next);
    return next.finally(() => {
      if (addQueues.get(this.dir) === next) addQueues.delete(this.dir);
    });
  }

  private async addNow(path: string, options: AddWorktreeOptions): Promise<string> {
    for (let attempt = 1; ; attempt++) {
      const exists = (await this.branchCommit(options.branch)) !== undefined;
      const args = exists
        ? ["worktree", "add", "--end-of-options", path, options.branch]
        : [
            "worktree",
            "add",
            "--no-track",
            "-b",
            options.branch,
            "--end-of-options",
            path,
            options.base,
          ];
      try {
        await this.run(args);
        return path;
      } catch (error) {
        const stderr = String((error as GitError).details?.stderr ?? "");
        if (
          attempt < 5 &&
          /\.lock'?:? File exists|could not lock config file|Unable to create .*\.lock/i.test(
            stderr,
          )
        ) {
          await sleep(20 * attempt + Math.random() * 30);
          continue;
        }
        throw error;
      }
    }
  }

  /** Removes a worktree (inside `root`); `force` also discards its uncommitted changes and lock. */
  async removeWorktree(
    root: string,
    path: string,
    options: { force?: boolean } = {},
  ): Promise<void> {
    const inside = requireInside(root, path);
    const force = options.force ? ["--force", "--force"] : [];
    await this.run(["worktree", "remove", ...force, "--end-of-options", inside]);
  }

  /**
   * Removes the ref lock `refs/heads/<branch>.lock` that a git killed while creating or moving
   * the branch left behind, once it is at least `minAgeMs` old and unchanged (a live git holds
   * one for milliseconds). Only for a branch no other process is meant to be writing. Returns
   * the removed file.
   */
  async removeStaleBranchLock(branch: string, minAgeMs = 1000): Promise<string | undefined> {
    const [lock] = await this.lockFiles(this.dir, { index: false, branch });
    if (lock === undefined) return undefined;
    const mtime = () => {
      try {
        return statSync(lock).mtimeMs;
      } catch {
        return undefined;
      }
    };
    const first = mtime();
    if (first === undefined) return undefined;
    const wait = first + minAgeMs - Date.now();
    if (wait > 0) await sleep(wait);
    if (mtime() !== first) return undefined; // gone, or taken again: not stale
    rmSync(lock, { force: true });
    return lock;
  }

  /**
   * Removes a half-made worktree, even one git refuses to remove itself (killed inside `git
   * worktree add`, its `.git` file missing or empty): its directory, then its registration.
   * Only for a worktree nobody has worked in yet.
   */
  async discardWorktree(root: string, path: string): Promise<void> {
    const inside = requireInside(root, path);
    try {
      await this.removeWorktree(root, inside, { force: true });
      return;
    } catch {
      // git could not validate it: take it apart by hand below
    }
    rmSync(inside, { recursive: true, force: true });
    const r = await this.run(["rev-parse", "--git-common-dir"]);
    const admin = join(resolve(this.dir, r.stdout.trim()), "worktrees");
    if (!existsSync(admin)) return;
    const target = canonical(inside);
    for (const name of readdirSync(admin)) {
      let gitdir: string;
      try {
        gitdir = readFileSync(join(admin, name, "gitdir"), "utf8").trim();
      } catch {
        continue;
      }
      if (canonical(dirname(gitdir)) === target) {
        rmSync(join(admin, name), { recursive: true, force: true });
      }
    }
  }

  /** Deletes a local branch: `-d` (only when merged into HEAD or its upstream) or, forced, `-D`. */
  async deleteBranch(branch: string, options: { force?: boolean } = {}): Promise<void> {
    requireBranchName(branch);
    await this.run(["branch", options.force ? "-D" : "-d", "--end-of-options", branch]);
  }

  /**
   * Deletes a branch only if it still points at `expected`: a compare-and-swap, so a branch
   * that gained commits meanwhile is never lost.
   */
  async deleteBranchIfAt(branch: string, expected: string): Promise<boolean> {
    requireBranchName(branch);
    if (!isObjectId(expected)) throw new GitError(`invalid object id ${expected}`, { expected });
    const line = `delete refs/heads/${branch} ${expected}`;
    return this.refTransaction([line], `orchestrator: delete ${branch}`);
  }

  /**
   * Whether commit `a` is an ancestor of (or equal to) commit `b`: no commit of `a` is missing
   * from `b`. (rev-list --count always prints; simple-git waits 50 ms more for a silent command.)
   */
  async isAncestor(a: string, b: string): Promise<boolean> {
    if (!isObjectId(a) || !isObjectId(b)) {
      throw new GitError("isAncestor takes object ids", { a, b });
    }
    const r = await this.run(["rev-list", "--count", "--end-of-options", a, `^${b}`]);
    return r.stdout.trim() === "0";
  }

  /**
   * Whether `commit` is on the first-parent chain of `tip`: a commit of that branch's own
   * history, not one brought in by a merge (only commits after `commit`'s parents are walked).
   */
  async onFirstParentChain(commit: string, tip: string): Promise<boolean> {
    if (!isObjectId(commit) || !isObjectId(tip)) {
      throw new GitError("onFirstParentChain takes object ids", { commit, tip });
    }
    const r = await this.run([
      "rev-list",
      "--first-parent",
      "--end-of-options",
      tip,
      `^${commit}^@`,
    ]);
    return r.stdout.split("\n").some((line) => line.trim() === commit);
  }

  /** Whether every commit of `branch` is contained in `into`. */
  async isBranchMerged(branch: string, into: string): Promise<boolean> {
    const tip = await this.branchCommit(branch);
    const target = await this.branchCommit(into);
    if (!tip || !target) return false;
    return this.isAncestor(tip, target);
  }

  /** Commits `branch` has that `base` lacks (ahead) and the reverse (behind). */
  async aheadBehind(branch: string, base: string): Promise<{ ahead: number; behind: number }> {
    requireBranchName(branch);
    requireBranchName(base);
    const r = await this.run([
      "rev-list",
      "--left-right",
      "--count",
      "--end-of-options",
      `refs/heads/${base}...refs/heads/${branch}`,
    ]);
    const [behind, ahead] = r.stdout.trim().split(/\s+/).map(Number);
    return { ahead: ahead ?? 0, behind: behind ?? 0 };
  }

  /** Merges two commits without a working tree (`git merge-tree --write-tree`). */
  async mergeTree(ours: string, theirs: string): Promise<MergeTreeResult> {
    const r = await this.run(
      [
        "merge-tree",
        "--write-tree",
        "--name-only",
        "--no-messages",
        "-z",
        "--end-of-options",
        ours,
        theirs,
      ],
      { ok: [1] },
    );
    return parseMergeTree(r.stdout, r.exitCode);
  }

  /** Writes a commit of `tree` with `parents` (first parent first). */
  async commitTree(tree: string, parents: readonly string[], message: string): Promise<string> {
    const args = ["commit-tree", ...parents.flatMap((p) => ["-p", p]), "-m", message, tree];
    let r: RunResult;
    try {
      r = await this.run(args);
    } catch (error) {
      // No committer identity configured (a fresh CI runner): sign as the orchestrator.
      if (
        !/tell me who you are|empty ident|unable to auto-detect email/i.test(
          (error as Error).message,
        )
      )
        throw error;
      r = await this.run([
        "-c",
        "user.name=orchestrator",
        "-c",
        "user.email=orchestrator@localhost",
        ...args,
      ]);
    }
    const oid = r.stdout.trim();
    if (!isObjectId(oid))
      throw new GitError(`git commit-tree printed no commit id`, { stdout: r.stdout });
    return oid;
  }

  /**
   * Keeps `commit` reachable under `refs/orchestrator/<name>` (never a branch, so no tool
   * shows it as work in progress); fails if the ref already exists.
   */
  async keepCommit(name: string, commit: string): Promise<string> {
    requireBranchName(name, "kept ref name");
    if (!isObjectId(commit)) throw new GitError("keepCommit takes an object id", { commit });
    const ref = `refs/orchestrator/${name}`;
    if (await this.refTransaction([`create ${ref} ${commit}`], `orchestrator: keep ${name}`)) {
      return ref;
    }
    throw new GitError(`cannot create ${ref}: it exists already or the repository is locked`, {
      ref,
    });
  }

  /** Moves `ref` from `previous` to `next` atomically; false when the ref was no longer at `previous`. */
  async updateRef(ref: string, next: string, previous: string, reason: string): Promise<boolean> {
    if (!ref.startsWith("refs/heads/")) throw new GitError(`refusing to move ${ref}`, { ref });
    requireBranchName(ref.slice("refs/heads/".length));
    if (!isObjectId(next) || !isObjectId(previous)) {
      throw new GitError("updateRef takes object ids", { next, previous });
    }
    const r = await this.tryRefTransaction([`update ${ref} ${next} ${previous}`], reason);
    if (r.exitCode === 0) return true;
    const now = await this.resolveCommit(ref);
    if (now !== previous) return false;
    const stderr = r.stderr.trim();
    const lock = /Unable to create '([^']+\.lock)': File exists/.exec(stderr)?.[1];
    if (lock) {
      throw new GitError(
        `cannot move ${ref}: git's lock file ${lock} exists (another git process is running, or one crashed); if no git process is running, remove ${lock} and retry. Nothing was changed`,
        { ref, lock_file: lock, stderr },
      );
    }
    throw new GitError(
      `git update-ref ${ref} from ${previous} to ${next} failed: ${stderr || "no output"}`,
      { ref, stderr },
    );
  }

  /**
   * A real `--no-ff` merge of `branch` into `into` that never touches a working tree:
   * merge-tree, commit-tree with two parents, then a compare-and-swap update-ref, recomputed
   * when `into` moved meanwhile. On conflict nothing is written to any ref.
   */
  async mergeNoFf(options: MergeOptions): Promise<MergeResult> {
    const into = requireBranchName(options.into);
    const branch = requireBranchName(options.branch);
    const maxAttempts = options.maxAttempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      const previous = await this.branchCommit(into);
      if (!previous) throw new GitError(`branch ${into} does not exist`, { branch: into });
      const tip = await this.branchCommit(branch);
      if (!tip) throw new GitError(`branch ${branch} does not exist`, { branch });
      if (await this.isAncestor(tip, previous)) return { status: "up_to_date", previous };
      const merged = await this.mergeTree(previous, tip);
      if (!merged.clean) return { status: "conflict", conflicts: merged.conflicts, previous };
      const commit = await this.commitTree(merged.tree, [previous, tip], options.message);
      await options.beforeUpdate?.(commit, previous);
      if (await this.updateRef(`refs/heads/${into}`, commit, previous, options.message)) {
        return { status: "merged", commit, previous, attempts: attempt };
      }
      if (attempt >= maxAttempts) {
        throw new GitError(
          `branch ${into} kept moving during ${maxAttempts} merge attempts; retry`,
          {
            branch: into,
            attempts: attempt,
          },
        );
      }
    }
  }

  /** Paths with uncommitted changes to tracked files in a worktree (`git status --porcelain`). */
  async dirtyPaths(worktree: string): Promise<string[]> {
    const r = await this.run(["status", "--porcelain=v1", "-z", "--untracked-files=no"], {
      cwd: worktree,
    });
    return r.stdout
      .split("\0")
      .filter((entry) => entry.length > 3)
      .map((entry) => entry.slice(3));
  }

  /** Whether a merge, rebase, cherry-pick or revert is in progress in a worktree. */
  async operationInProgress(worktree: string): Promise<string | undefined> {
    const names = ["MERGE_HEAD", "REBASE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD"];
    const r = await this.run(["cat-file", "--batch-check=%(objecttype)"], {
      cwd: worktree,
      input: `${names.join("\n")}\n`,
    });
    const found = r.stdout.split("\n").indexOf("commit");
    if (found >= 0) return names[found];
    const paths = await this.run(
      ["rev-parse", "--git-path", "rebase-merge", "--git-path", "rebase-apply"],
      {
        cwd: worktree,
      },
    );
    for (const p of paths.stdout.split("\n").map((l) => l.trim())) {
      if (p && existsSync(resolve(worktree, p))) return "rebase";
    }
    return undefined;
  }

  /** The tree a worktree's index holds. */
  async indexTree(worktree: string): Promise<string> {
    return (await this.run(["write-tree"], { cwd: worktree })).stdout.trim();
  }

  /** The tree of a commit. */
  async treeOf(commit: string): Promise<string | undefined> {
    return this.resolveTree(commit);
  }

  private async resolveTree(commit: string): Promise<string | undefined> {
    const r = await this.run(
      ["rev-parse", "--verify", "--quiet", "--end-of-options", `${commit}^{tree}`],
      {
        ok: [1, 128],
      },
    );
    return r.exitCode === 0 ? r.stdout.trim() : undefined;
  }

  /**
   * Brings a checkout whose branch moved from `from` to `to` (a descendant) into step: index and
   * files go from `from`'s tree to `to`'s, as a fast-forward would (`git read-tree -m -u`).
   */
  async fastForwardCheckout(worktree: string, from: string, to: string): Promise<void> {
    await this.run(["read-tree", "-m", "-u", from, to], { cwd: worktree });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A path with its parent's symlinks resolved (the path itself may be gone). */
function canonical(path: string): string {
  try {
    return join(realpathSync(dirname(path)), basename(path));
  } catch {
    return resolve(path);
  }
}
