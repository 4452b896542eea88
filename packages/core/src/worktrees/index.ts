import { existsSync, mkdirSync, readdirSync, rmSync, statfsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { WorktreeRow, WorktreeStatus } from "@orchestrator/db";
import {
  branchNameProblem,
  GitRepo,
  isValidBranchName,
  realPath,
  requireInside,
  type WorktreeEntry,
} from "@orchestrator/git";
import type { Orchestrator } from "../context.js";
import { invalidInput, OrchestratorError } from "../errors.js";
import { completeTask, markTaskConflict, requireTask } from "../tasks/index.js";
import { ifUnlocked, withLock } from "./lock.js";

export const TASK_BRANCH_PREFIX = "roadmap-implementation_task-";
/** Serializes worktree adds and removals across processes (git's own files race otherwise). */
const WORKTREES_LOCK = "worktrees";
/** Serializes merges across processes: one at a time, whatever process asks. */
const MERGE_LOCK = "merge";

export const taskBranch = (taskId: string) => `${TASK_BRANCH_PREFIX}${taskId}`;

interface Layout {
  repo: GitRepo;
  /** The worktree root, absolute with symlinks followed. */
  root: string;
  integration: string;
}

function requireBranch(name: string, what: string): string {
  const problem = branchNameProblem(name);
  if (problem !== undefined) {
    throw invalidInput(
      `invalid ${what} ${JSON.stringify(name)}: ${problem}. A git branch name may not start with '-' or hold '..', spaces, control or invisible characters, look-alikes, or any of ~ ^ : ? * [ \\`,
      { [what.replace(/ /g, "_")]: name, problem },
    );
  }
  return name;
}

function layout(o: Orchestrator, into?: string): Layout {
  const integration = requireBranch(into ?? o.config.integration_branch, "integration branch");
  const root = resolve(o.paths.repoRoot, o.config.worktree_root);
  return { repo: new GitRepo(o.paths.repoRoot), root: realPath(root), integration };
}

function worktreePathFor(l: Layout, taskId: string): string {
  return requireInside(l.root, join(l.root, `task-${taskId}`));
}

const samePath = (a: string, b: string) => realPath(a) === realPath(b);

/** Below this much free space, a git command that failed writing files is blamed on a full disk. */
const NEARLY_FULL_BYTES = 1024 * 1024;

/** Bytes free for this user on the file system holding `dir`, or undefined when unknown. */
function freeBytes(dir: string): number | undefined {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

function entryFor(entries: readonly WorktreeEntry[], path: string): WorktreeEntry | undefined {
  return entries.find((e, i) => i > 0 && samePath(e.path, path));
}

/**
 * Creates the integration branch from the default branch when it does not exist yet. One the
 * orchestrator already worked with (worktrees made from it or merged into it) that is gone was
 * deleted by hand: it is never silently made again from the default branch, which would drop
 * every merge it held.
 */
async function ensureIntegrationBranch(o: Orchestrator, l: Layout, name: string): Promise<void> {
  if (await l.repo.branchCommit(name)) return;
  const use = o.worktrees.integrationUse(name);
  if (use.worktrees > 0) {
    const restore = use.last_merge_commit
      ? `restore it at its last merge (\`git branch ${name} ${use.last_merge_commit}\`)`
      : `restore it (\`git branch ${name} <commit>\`)`;
    throw new OrchestratorError(
      "GitError",
      `the integration branch ${name} is gone (deleted by hand?), but ${use.worktrees} worktree${use.worktrees === 1 ? " was" : "s were"} made from or merged into it; it was not made again from the default branch. ${restore}, then retry. Nothing was changed`,
      { branch: name, worktrees: use.worktrees, last_merge_commit: use.last_merge_commit },
    );
  }
  const from = await l.repo.defaultBranch();
  if (await l.repo.createBranch(name, from)) {
    o.write(() => o.record({ kind: "integration_branch_created", detail: { branch: name, from } }));
  }
}

/** How many commits the task's branch has that the integration branch lacks (0 when it has no branch). */
export async function taskBranchAhead(o: Orchestrator, taskId: string): Promise<number> {
  const l = layout(o);
  const branch = taskBranch(taskId);
  if (!(await l.repo.branchCommit(branch)) || !(await l.repo.branchCommit(l.integration))) return 0;
  return (await l.repo.aheadBehind(branch, l.integration)).ahead;
}

// ---------------------------------------------------------------------------------------------
// create

export interface CreateOptions {
  /** Branch the new task branch starts from (default: the integration branch). */
  base?: string;
  /** Return the task's existing healthy worktree instead of failing with WorktreeExists. */
  reuse?: boolean;
}

export interface CreateResult {
  task_id: string;
  branch: string;
  worktree_path: string;
}

/**
 * Gives a task its own worktree on branch `roadmap-implementation_task-{id}`, at
 * `<worktree_root>/task-{id}`. The tracker row is written as `creating` before git runs and
 * becomes `active` after, so a crash in between is repaired by the next worktrees command.
 */
export async function createWorktree(
  o: Orchestrator,
  taskId: string,
  options: CreateOptions = {},
): Promise<CreateResult> {
  const task = requireTask(o, taskId);
  if (task.status === "completed" || task.status === "cancelled") {
    throw invalidInput(`task ${taskId} is ${task.status}; it needs no worktree`, {
      task_id: taskId,
      status: task.status,
    });
  }
  const l = layout(o);
  const base = requireBranch(options.base ?? l.integration, "base branch");
  // Before anything is made (the worktree root, a lock): a missing base changes nothing.
  if (base !== l.integration && !(await l.repo.branchCommit(base))) {
    throw invalidInput(`base branch ${JSON.stringify(base)} does not exist`, { base });
  }
  const branch = taskBranch(taskId);
  mkdirSync(l.root, { recursive: true });
  const path = worktreePathFor(l, taskId);

  return withLock(o, WORKTREES_LOCK, async () => {
    let entries = await l.repo.listWorktrees();
    if (await repairCreates(o, l, entries, taskId)) entries = await l.repo.listWorktrees();
    const row = o.worktrees.live(taskId);
    if (row) {
      const entry = entryFor(entries, row.worktree_path);
      if (entry && existsSync(row.worktree_path) && entry.prunable === null) {
        if (!(await l.repo.branchCommit(row.branch))) {
          throw new OrchestratorError(
            "GitError",
            `branch ${row.branch} of task ${taskId} is gone (deleted by hand?), but its worktree ${row.worktree_path} is still there, its files on no branch; it cannot be used. Copy what you need from it, then remove it with \`worktrees cleanup --task-id ${taskId} --force\` and create it again`,
            { task_id: taskId, branch: row.branch, worktree_path: row.worktree_path },
          );
        }
        if (options.reuse) {
          linkAssignment(o, taskId, row.worktree_path, row.branch);
          return { task_id: taskId, branch: row.branch, worktree_path: row.worktree_path };
        }
        throw new OrchestratorError(
          "WorktreeExists",
          `task ${taskId} already has a worktree at ${row.worktree_path} (branch ${row.branch}, ${row.status}); use it, pass --reuse, or remove it with \`worktrees cleanup --task-id ${taskId}\``,
          {
            task_id: taskId,
            worktree_path: row.worktree_path,
            branch: row.branch,
            status: row.status,
          },
        );
      }
    }

    if (base === l.integration) await ensureIntegrationBranch(o, l, base);
    else if (!(await l.repo.branchCommit(base))) {
      throw invalidInput(`base branch ${base} does not exist`, { base });
    }

    // A stale registration (directory deleted by hand) is pruned; anything else in the way stops us.
    const target = row?.worktree_path ?? path;
    const inTheWay = entryFor(entries, target);
    if (inTheWay && (inTheWay.prunable !== null || !existsSync(target))) {
      await l.repo.pruneWorktrees();
    } else if (inTheWay) {
      throw new OrchestratorError(
        "WorktreeExists",
        `${target} is already a worktree (branch ${inTheWay.branch ?? "detached"}) that the orchestrator did not make for task ${taskId}; remove it with \`git worktree remove\` or choose another worktree_root`,
        { task_id: taskId, worktree_path: target, branch: inTheWay.branch },
      );
    }
    if (existsSync(target) && readdirSync(target).length > 0) {
      throw new OrchestratorError(
        "WorktreeExists",
        `${target} exists and is not empty; move it away and retry`,
        { task_id: taskId, worktree_path: target },
      );
    }

    // The row first: a crash from here on leaves `creating`, which repairCreates finishes or undoes.
    const id = row
      ? row.id
      : o.write(() =>
          o.worktrees.insert(
            { task_id: taskId, branch, worktree_path: path, base_branch: base },
            "creating",
            o.now(),
          ),
        );
    try {
      await l.repo.addWorktree({ root: l.root, path: target, branch: row?.branch ?? branch, base });
    } catch (error) {
      if (!row) await repairCreates(o, l, await l.repo.listWorktrees(), taskId);
      const free = freeBytes(l.root);
      if (free !== undefined && free < NEARLY_FULL_BYTES) {
        throw new OrchestratorError(
          "GitError",
          `cannot create the worktree ${target} for task ${taskId}: the disk holding ${l.root} is full (${free} bytes free); the half-made worktree was removed. Free space there and retry`,
          {
            task_id: taskId,
            worktree_path: target,
            free_bytes: free,
            git_error: (error as Error).message,
          },
        );
      }
      throw error;
    }
    o.write(() => {
      o.worktrees.transition(id, ["creating"], "active", o.now());
      linkAssignment(o, taskId, target, row?.branch ?? branch);
      o.record({
        kind: "worktree_created",
        task_id: taskId,
        detail: { branch: row?.branch ?? branch, worktree_path: target, base, recreated: !!row },
      });
    });
    return { task_id: taskId, branch: row?.branch ?? branch, worktree_path: target };
  });
}

/** Records the worktree on the task's unfinished assignment (orchestrator_task), if it has one. */
function linkAssignment(o: Orchestrator, taskId: string, path: string, branch: string): void {
  o.write(() => o.assignments.updateActive(taskId, { worktree_path: path, branch }, o.now()));
}

/**
 * Finishes or undoes creations a killed process left half-done (call under the worktrees lock,
 * so no live process is creating). A `creating` row whose worktree git finished becomes
 * `active`; otherwise its registration, directory and untouched new branch are removed and the
 * row becomes `abandoned`. A live row whose re-creation was killed loses the half-made
 * directory (its branch stays). Returns whether anything was repaired.
 */
async function repairCreates(
  o: Orchestrator,
  l: Layout,
  entries: readonly WorktreeEntry[],
  onlyTask?: string,
): Promise<boolean> {
  let repaired = false;
  const rows = onlyTask
    ? [o.worktrees.live(onlyTask)].filter((r): r is WorktreeRow => r !== undefined)
    : o.worktrees.list();
  for (const row of rows) {
    const entry = entryFor(entries, row.worktree_path);
    const initializing = entry?.locked === "initializing";
    const complete =
      entry !== undefined &&
      !initializing &&
      entry.prunable === null &&
      entry.branch === row.branch &&
      existsSync(row.worktree_path);
    if (row.status === "creating" && complete) {
      o.write(() => {
        if (!o.worktrees.transition(row.id, ["creating"], "active", o.now())) return;
        linkAssignment(o, row.task_id, row.worktree_path, row.branch);
        o.record({
          kind: "worktree_created",
          task_id: row.task_id,
          detail: { branch: row.branch, worktree_path: row.worktree_path, repaired: true },
        });
      });
      repaired = true;
      continue;
    }
    if (row.status !== "creating" && !initializing) continue;

    // Undo the half-made worktree: registration, then directory.
    if (entry) await l.repo.discardWorktree(l.root, row.worktree_path);
    if (existsSync(row.worktree_path)) {
      rmSync(requireInside(l.root, row.worktree_path), { recursive: true, force: true });
    }
    await l.repo.pruneWorktrees();
    if (row.status === "creating") {
      // The branch git made for it holds no work of its own: delete it if nothing would be lost.
      // A git killed while making it may have left its ref lock: nobody else writes this branch.
      await l.repo.removeStaleBranchLock(row.branch);
      const tip = await l.repo.branchCommit(row.branch);
      const baseTip = await l.repo.branchCommit(row.base_branch);
      const deleted =
        tip !== undefined &&
        baseTip !== undefined &&
        (await l.repo.isAncestor(tip, baseTip)) &&
        (await l.repo.deleteBranchIfAt(row.branch, tip));
      o.write(() => {
        if (!o.worktrees.transition(row.id, ["creating"], "abandoned", o.now())) return;
        o.record({
          kind: "worktree_create_rolled_back",
          task_id: row.task_id,
          detail: { branch: row.branch, worktree_path: row.worktree_path, branch_deleted: deleted },
        });
      });
    }
    repaired = true;
  }
  return repaired;
}

// ---------------------------------------------------------------------------------------------
// merge

export interface MergeWorktreeOptions {
  /** Branch merged into (default: the configured integration branch). */
  into?: string;
}

export interface MergeWorktreeResult {
  task_id: string;
  status: "merged" | "conflict";
  merge_commit: string | null;
  conflicts: string[];
  /** The merge had been done before (by another process, or by hand): nothing was written. */
  already_merged: boolean;
}

/**
 * Merges the task branch into the integration branch with a real `--no-ff` merge commit
 * (`merge: complete {id}`) written without any working tree, and moves the branch by
 * compare-and-swap. One merge at a time across processes (a lease in SQLite).
 *
 * If the integration branch is checked out somewhere, that checkout must be clean (else the
 * merge is refused and nothing changes) and is fast-forwarded with its branch afterwards.
 * On conflict nothing changes in git; the task and worktree become `conflict` and the task's
 * agent gets an `error_notification`. On success the task becomes `completed` (unblocking its
 * dependents) and the worktree `merged`, in one transaction.
 */
export async function mergeWorktree(
  o: Orchestrator,
  taskId: string,
  options: MergeWorktreeOptions = {},
): Promise<MergeWorktreeResult> {
  requireTask(o, taskId);
  const l = layout(o, options.into);
  const into = l.integration;
  return withLock(o, MERGE_LOCK, async () => {
    // Every interrupted merge first: one that landed moved the branch and its checkouts.
    await repairMerges(o, l);
    const row = o.worktrees.live(taskId);
    if (!row) return mergedBefore(o, taskId);
    if (row.status === "merged") return mergedResult(taskId, row.merge_commit, true);
    refuseWhileAgentRuns(o, taskId);
    if (row.status === "creating") {
      throw invalidInput(
        `the worktree of task ${taskId} is still being created; run \`worktrees list\` to repair an interrupted creation, then merge`,
        { task_id: taskId },
      );
    }
    if (row.branch === into) {
      throw invalidInput(`cannot merge ${row.branch} into itself`, { branch: row.branch });
    }
    await refuseLocks(l, into);
    await ensureIntegrationBranch(o, l, into);
    await requireTaskBranch(l, row);
    const checkouts = await cleanCheckoutsOf(l, into);

    const message = `merge: complete ${taskId}`;
    let result: Awaited<ReturnType<GitRepo["mergeNoFf"]>>;
    try {
      result = await l.repo.mergeNoFf({
        into,
        branch: row.branch,
        message,
        beforeUpdate: async (commit, previous) => {
          await refuseBlockedCheckouts(l, into, checkouts, previous, commit);
          o.write(() =>
            o.worktrees.transition(row.id, ["active", "conflict", "merging"], "merging", o.now(), {
              merge_target: into,
              merge_commit: commit,
            }),
          );
        },
      });
    } catch (error) {
      // The ref did not move (or the merge landed): settle a `merging` record now, not later.
      await repairMerges(o, l).catch(() => undefined);
      throw error;
    }

    if (result.status === "conflict") {
      recordConflict(o, row, into, result.conflicts);
      return {
        task_id: taskId,
        status: "conflict",
        merge_commit: null,
        conflicts: result.conflicts,
        already_merged: false,
      };
    }
    if (result.status === "up_to_date") {
      await refuseBranchWithoutWork(l, row, { name: into, tip: result.previous });
    }
    const commit = result.status === "merged" ? result.commit : null;
    const outOfStep =
      result.status === "merged"
        ? await syncCheckouts(l, checkouts, result.previous, result.commit)
        : [];
    finishMerge(o, row, into, commit, outOfStep);
    return mergedResult(taskId, commit, false);
  });
}

/** An agent still at work on the task may commit more: merging now would complete it early. */
function refuseWhileAgentRuns(o: Orchestrator, taskId: string): void {
  const agent = o.agents.liveOnTask(taskId);
  if (!agent) return;
  throw invalidInput(
    `task ${taskId}'s agent ${agent.agent_id}${agent.pid ? ` (pid ${agent.pid})` : ""} is still ${agent.status}; merge when it has finished, or stop it first with \`agents kill --agent-id ${agent.agent_id}\``,
    { task_id: taskId, agent_id: agent.agent_id, pid: agent.pid },
  );
}

function mergedResult(
  taskId: string,
  commit: string | null,
  alreadyMerged: boolean,
): MergeWorktreeResult {
  return {
    task_id: taskId,
    status: "merged",
    merge_commit: commit,
    conflicts: [],
    already_merged: alreadyMerged,
  };
}

/**
 * A task without a live worktree: merged and cleaned up already (by another process, say), or
 * it never had one.
 */
function mergedBefore(o: Orchestrator, taskId: string): MergeWorktreeResult {
  const last = o.worktrees.latest(taskId);
  if (last?.merge_target && o.tasks.get(taskId)?.status === "completed") {
    return mergedResult(taskId, last.merge_commit, true);
  }
  throw invalidInput(
    `task ${taskId} has no worktree to merge; create one with \`worktrees create --task-id ${taskId}\``,
    { task_id: taskId },
  );
}

/**
 * A task branch already contained in the integration branch is merged only if it holds work:
 * a branch merged by hand is; one still at a commit of the integration branch's own history
 * (nothing committed since it was made) is refused, so no task is completed without work.
 */
async function refuseBranchWithoutWork(
  l: Layout,
  row: WorktreeRow,
  into: { name: string; tip: string },
): Promise<void> {
  const tip = await l.repo.branchCommit(row.branch);
  if (tip === undefined || !(await l.repo.onFirstParentChain(tip, into.tip))) return;
  throw invalidInput(
    `branch ${row.branch} of task ${row.task_id} has no commits of its own (its tip ${tip.slice(0, 12)} is a commit of ${into.name}); commit the task's work in ${row.worktree_path} first, or mark the task done with \`tasks complete ${row.task_id}\``,
    { task_id: row.task_id, branch: row.branch, commit: tip },
  );
}

/**
 * Refuses (changing nothing) a merge git could not finish because of a lock file: the
 * integration branch's `refs/heads/<branch>.lock`, or the `index.lock` of a checkout of it
 * (its files are brought into step with the branch after the merge).
 */
async function refuseLocks(l: Layout, branch: string): Promise<void> {
  const locks = await l.repo.lockFiles(l.repo.dir, { index: false, branch });
  for (const e of await l.repo.listWorktrees()) {
    if (e.branch !== branch || e.bare || e.prunable !== null || !existsSync(e.path)) continue;
    locks.push(...(await l.repo.lockFiles(e.path, { index: true })));
  }
  if (locks.length === 0) return;
  throw new OrchestratorError(
    "GitError",
    `git's lock file ${locks.join(", ")} exists, so the integration branch ${branch} cannot be merged into safely: another git process is running, or one crashed and left it. If no git process is running, remove ${locks.length === 1 ? "it" : "them"} (\`rm ${locks.join(" ")}\`) and merge again. Nothing was changed`,
    { branch, lock_files: locks },
  );
}

/** Refuses a merge whose task branch is gone (deleted by hand), saying what is left of it. */
async function requireTaskBranch(l: Layout, row: WorktreeRow): Promise<void> {
  if (await l.repo.branchCommit(row.branch)) return;
  const there = existsSync(row.worktree_path);
  throw new OrchestratorError(
    "GitError",
    `branch ${row.branch} of task ${row.task_id} is gone (deleted by hand?), so there is nothing to merge. ${there ? `Its worktree ${row.worktree_path} still holds its files, on no branch: copy what you need, then remove it with \`worktrees cleanup --task-id ${row.task_id} --force\`` : `Remove the record with \`worktrees cleanup --task-id ${row.task_id}\``} and start the task again. Nothing was changed`,
    { task_id: row.task_id, branch: row.branch, worktree_path: row.worktree_path },
  );
}

/**
 * Refuses (before the integration branch moves) a merge whose result could not be written into
 * a checkout of the branch, e.g. because an untracked file there is in the way.
 */
async function refuseBlockedCheckouts(
  l: Layout,
  branch: string,
  checkouts: readonly string[],
  previous: string,
  commit: string,
): Promise<void> {
  for (const path of checkouts) {
    const refusal = await l.repo.fastForwardRefusal(path, previous, commit);
    if (refusal === undefined) continue;
    throw new OrchestratorError(
      "GitError",
      `the integration branch ${branch} is checked out at ${path}, and the merge could not be written there: ${refusal.split("\n")[0]}; move those files away (or check out another branch there), then merge again. Nothing was changed`,
      { branch, checkout: path, git_error: refusal },
    );
  }
}

/** Worktrees with `branch` checked out; refuses (changing nothing) when one has uncommitted work. */
async function cleanCheckoutsOf(l: Layout, branch: string): Promise<string[]> {
  const entries = await l.repo.listWorktrees();
  const paths: string[] = [];
  for (const e of entries) {
    if (e.branch !== branch || e.bare || e.prunable !== null || !existsSync(e.path)) continue;
    const dirty = await l.repo.dirtyPaths(e.path);
    const operation = await l.repo.operationInProgress(e.path);
    if (dirty.length > 0 || operation) {
      throw new OrchestratorError(
        "GitError",
        `the integration branch ${branch} is checked out at ${e.path}${operation ? ` with a ${operation} in progress` : ` with uncommitted changes (${dirty.slice(0, 5).join(", ")}${dirty.length > 5 ? ", …" : ""})`}; commit or stash them there (or check out another branch), then merge again. Nothing was changed.`,
        { branch, checkout: e.path, dirty_paths: dirty, operation: operation ?? null },
      );
    }
    paths.push(e.path);
  }
  return paths;
}

/**
 * Fast-forwards checkouts of the integration branch whose index still holds `previous`'s tree
 * to `commit`. Returns the checkouts left out of step (someone changed them meanwhile).
 */
async function syncCheckouts(
  l: Layout,
  checkouts: readonly string[],
  previous: string,
  commit: string,
): Promise<string[]> {
  const outOfStep: string[] = [];
  const previousTree = await l.repo.treeOf(previous);
  const commitTree = await l.repo.treeOf(commit);
  for (const path of checkouts) {
    try {
      const index = await l.repo.indexTree(path);
      if (index === commitTree) continue;
      if (index !== previousTree) {
        outOfStep.push(path);
        continue;
      }
      await l.repo.fastForwardCheckout(path, previous, commit);
    } catch {
      outOfStep.push(path);
    }
  }
  return outOfStep;
}

function finishMerge(
  o: Orchestrator,
  row: WorktreeRow,
  into: string,
  commit: string | null,
  outOfStep: readonly string[],
): void {
  o.write(() => {
    const moved = o.worktrees.transition(
      row.id,
      ["active", "conflict", "merging"],
      "merged",
      o.now(),
      { merge_target: into, merge_commit: commit, conflicts: null },
    );
    if (!moved) return;
    completeTask(
      o,
      row.task_id,
      commit ? `merged into ${into} as ${commit}` : `already contained in ${into}`,
    );
    o.record({
      kind: "worktree_merged",
      task_id: row.task_id,
      detail: {
        branch: row.branch,
        into,
        merge_commit: commit,
        ...(outOfStep.length ? { checkouts_out_of_step: outOfStep } : {}),
      },
    });
  });
}

function recordConflict(
  o: Orchestrator,
  row: WorktreeRow,
  into: string,
  conflicts: readonly string[],
): void {
  o.write(() => {
    const now = o.now();
    o.worktrees.transition(row.id, ["active", "conflict", "merging"], "conflict", now, {
      merge_target: into,
      merge_commit: null,
      conflicts: JSON.stringify(conflicts),
    });
    markTaskConflict(
      o,
      row.task_id,
      `merge into ${into} conflicts in ${conflicts.length} path${conflicts.length === 1 ? "" : "s"}: ${conflicts.slice(0, 5).join(", ")}`,
    );
    const task = o.tasks.get(row.task_id)!;
    const assignment = o.assignments.active(row.task_id);
    const toAgent = assignment?.agent_id ?? null;
    const messageId = o.messages.insert(
      {
        from_agent: "orchestrator",
        to_agent: toAgent ?? task.agent_type,
        to_kind: toAgent ? "agent" : "type",
        message_type: "error_notification",
        content: JSON.stringify({
          kind: "merge_conflict",
          task_id: row.task_id,
          branch: row.branch,
          worktree_path: row.worktree_path,
          integration_branch: into,
          conflicts,
          action: `rebase ${row.branch} onto ${into} in ${row.worktree_path}, resolve the conflicts, then ask for the merge again`,
        }),
        priority: 0,
        max_attempts: o.config.messages.max_attempts,
        expires_at: now + o.config.messages.ttl,
        idempotency_key: null,
      },
      now,
    );
    o.record({
      kind: "worktree_conflict",
      task_id: row.task_id,
      message_id: messageId,
      detail: { branch: row.branch, into, conflicts },
    });
  });
}

/**
 * Finishes or undoes merges a killed process left in `merging` (call under the merge lock).
 * If the recorded merge commit reached its target branch, the merge happened: the row and the
 * task are completed and checkouts of the target brought into step. Otherwise the ref never
 * moved and the row goes back to `active`.
 */
async function repairMerges(o: Orchestrator, l: Layout): Promise<boolean> {
  const rows = o.worktrees.list(["merging"]);
  for (const row of rows) {
    const into = row.merge_target ?? l.integration;
    const target = isValidBranchName(into) ? await l.repo.branchCommit(into) : undefined;
    const commit = row.merge_commit;
    const landed =
      commit !== null && target !== undefined && (await l.repo.isAncestor(commit, target));
    if (landed) {
      const previous = await l.repo.resolveCommit(`${commit}^1`);
      const checkouts = (await l.repo.listWorktrees())
        .filter((e) => e.branch === into && !e.bare && existsSync(e.path))
        .map((e) => e.path);
      const outOfStep =
        previous && target === commit ? await syncCheckouts(l, checkouts, previous, commit) : [];
      finishMerge(o, row, into, commit, outOfStep);
    } else {
      o.write(() => {
        if (!o.worktrees.transition(row.id, ["merging"], "active", o.now(), { merge_commit: null }))
          return;
        o.record({
          kind: "worktree_merge_rolled_back",
          task_id: row.task_id,
          detail: { branch: row.branch, into, abandoned_commit: commit },
        });
      });
    }
  }
  return rows.length > 0;
}

// ---------------------------------------------------------------------------------------------
// cleanup

export interface CleanupOptions {
  taskId?: string;
  /** Clean every worktree whose branch is merged. */
  merged?: boolean;
  /** Remove even unmerged branches and dirty worktrees (only with taskId). */
  force?: boolean;
}

export interface CleanupResult {
  removed: string[];
  kept: { task_id: string; reason: string }[];
  /** `--task-id` of a task whose worktree was removed before (by another process, say). */
  already_removed: string[];
}

/**
 * Removes worktrees and their branches, but only when the branch is merged into the
 * integration branch (or --force for one task). Branches are deleted by compare-and-swap, so
 * a commit made meanwhile is never lost. Stale git registrations are pruned first.
 */
export async function cleanupWorktrees(
  o: Orchestrator,
  options: CleanupOptions = {},
): Promise<CleanupResult> {
  if (options.taskId !== undefined && options.merged) {
    throw invalidInput("give either --task-id or --merged, not both");
  }
  if (options.force && options.taskId === undefined) {
    throw invalidInput("--force removes unmerged work: it needs --task-id naming the one task", {});
  }
  if (options.taskId !== undefined) requireTask(o, options.taskId);
  const l = layout(o);
  // The merge lock too: a branch is never removed while a merge of it is being decided.
  return withLock(o, MERGE_LOCK, () =>
    withLock(o, WORKTREES_LOCK, () => cleanupHolding(o, l, options)),
  );
}

async function cleanupHolding(
  o: Orchestrator,
  l: Layout,
  options: CleanupOptions,
): Promise<CleanupResult> {
  await l.repo.pruneWorktrees();
  const entries = await l.repo.listWorktrees();
  await repairCreates(o, l, entries, options.taskId);
  const result: CleanupResult = { removed: [], kept: [], already_removed: [] };
  let rows: WorktreeRow[];
  if (options.taskId !== undefined) {
    const row = o.worktrees.live(options.taskId);
    if (!row) {
      if (!o.worktrees.latest(options.taskId)) {
        throw invalidInput(`task ${options.taskId} has no worktree to clean up`, {
          task_id: options.taskId,
        });
      }
      result.already_removed.push(options.taskId);
      return result;
    }
    rows = [row];
  } else {
    rows = o.worktrees.list(["active", "merged", "conflict"]);
  }
  for (const row of rows) {
    const reason = await removeOne(o, l, row, entries, options.force ?? false, !options.taskId);
    if (reason) result.kept.push({ task_id: row.task_id, reason });
    else result.removed.push(row.task_id);
  }
  return result;
}

/** Removes one worktree and branch; returns why it was kept instead, if it was. */
async function removeOne(
  o: Orchestrator,
  l: Layout,
  row: WorktreeRow,
  entries: readonly WorktreeEntry[],
  force: boolean,
  sweeping: boolean,
): Promise<string | undefined> {
  if (row.status === "creating" || row.status === "merging") {
    return `its ${row.status === "creating" ? "creation" : "merge"} is in progress`;
  }
  const into = row.merge_target ?? l.integration;
  const tip = await l.repo.branchCommit(row.branch);
  const target = await l.repo.branchCommit(into);
  const merged =
    tip === undefined || (target !== undefined && (await l.repo.isAncestor(tip, target)));
  if (!merged && !force) {
    const { ahead } = await l.repo.aheadBehind(row.branch, into).catch(() => ({ ahead: -1 }));
    return `branch ${row.branch} has ${ahead >= 0 ? `${ahead} commit${ahead === 1 ? "" : "s"}` : "commits"} not merged into ${into}; merge it first, or remove it anyway with --force`;
  }
  if (sweeping && row.status !== "merged") {
    const task = o.tasks.get(row.task_id);
    if (task && !["completed", "cancelled", "failed"].includes(task.status)) {
      return `task ${row.task_id} is ${task.status}: its branch has no commits beyond ${into} yet, but an agent may still be working in it; clean it up by --task-id`;
    }
  }
  const entry = entryFor(entries, row.worktree_path);
  if (entry) {
    if (entry.locked !== null && !force) {
      return `the worktree is locked${entry.locked ? ` (${entry.locked})` : ""}; unlock it with \`git worktree unlock\` or use --force`;
    }
    try {
      await l.repo.removeWorktree(l.root, row.worktree_path, { force });
    } catch (error) {
      if (force) throw error;
      if (tip === undefined) {
        return `branch ${row.branch} is gone (deleted by hand?), and its worktree ${row.worktree_path} still holds files that are on no branch; copy what you need, then remove it with --force`;
      }
      return `the worktree has uncommitted or untracked changes (git refused to remove it); commit or discard them, or use --force`;
    }
  }
  let branchDeleted = false;
  if (tip !== undefined) {
    branchDeleted = await l.repo.deleteBranchIfAt(row.branch, tip);
    if (!branchDeleted && !force) {
      return `branch ${row.branch} moved while it was being removed; nothing was lost, run cleanup again`;
    }
  }
  o.write(() => {
    o.worktrees.transition(row.id, [row.status], "removed", o.now());
    o.record({
      kind: "worktree_removed",
      task_id: row.task_id,
      detail: {
        branch: row.branch,
        worktree_path: row.worktree_path,
        merged,
        forced: force && !merged,
        branch_deleted: branchDeleted,
      },
    });
  });
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// set aside (after a conflict)

export interface SetAsideResult {
  task_id: string;
  /** Where the conflicted branch's commits are kept; null when the branch had none. */
  kept_ref: string | null;
  removed: boolean;
}

/**
 * Clears the way for a new attempt at a conflicted task: the branch's tip is kept under
 * `refs/orchestrator/attempts/<task>/<time>` (so no commit is lost), then its worktree and
 * branch are removed. The next worktree for the task starts from the integration branch as it
 * is now, which already holds the change it conflicted with.
 */
export async function setAsideBranch(o: Orchestrator, taskId: string): Promise<SetAsideResult> {
  requireTask(o, taskId);
  const l = layout(o);
  const row = o.worktrees.live(taskId);
  if (!row) return { task_id: taskId, kept_ref: null, removed: false };
  const tip = await l.repo.branchCommit(row.branch);
  const ahead = tip ? (await l.repo.aheadBehind(row.branch, l.integration)).ahead : 0;
  const keptRef =
    tip && ahead > 0 ? await l.repo.keepCommit(`attempts/${taskId}/${o.now()}`, tip) : null;
  const cleaned = await cleanupWorktrees(o, { taskId, force: true });
  o.write(() =>
    o.record({
      kind: "branch_set_aside",
      task_id: taskId,
      detail: { branch: row.branch, kept_ref: keptRef, tip: tip ?? null },
    }),
  );
  return { task_id: taskId, kept_ref: keptRef, removed: cleaned.removed.includes(taskId) };
}

// ---------------------------------------------------------------------------------------------
// list

export const LIST_STATUSES = [
  "creating",
  "active",
  "merging",
  "merged",
  "conflict",
  "removed",
  "abandoned",
  "untracked",
] as const;
export type ListStatus = (typeof LIST_STATUSES)[number];

export interface WorktreeView {
  task_id: string | null;
  branch: string | null;
  worktree_path: string;
  /** The tracker status, or `untracked` for a worktree git has but the database does not. */
  status: ListStatus;
  base_branch: string | null;
  merge_commit: string | null;
  conflicts: string[];
  /** Commits on the branch not in the integration branch, and the reverse. */
  ahead: number | null;
  behind: number | null;
  registered: boolean;
  directory_exists: boolean;
  locked: string | null;
  prunable: string | null;
  /** What does not agree between the database and git, in words. */
  problems: string[];
}

export interface WorktreeListResult {
  worktrees: WorktreeView[];
}

/**
 * The tracker reconciled against `git worktree list --porcelain`. Crash leftovers (rows in
 * `creating` or `merging` whose process is gone) are finished or undone first, when no other
 * process holds the lock they need. Reports worktrees git has that the database does not,
 * rows whose directory or branch is gone, and locked or prunable registrations.
 */
export async function listWorktrees(
  o: Orchestrator,
  options: { status?: ListStatus } = {},
): Promise<WorktreeListResult> {
  const l = layout(o);
  await ifUnlocked(o, WORKTREES_LOCK, async () =>
    repairCreates(o, l, await l.repo.listWorktrees()),
  );
  await ifUnlocked(o, MERGE_LOCK, () => repairMerges(o, l));

  const entries = await l.repo.listWorktrees();
  const statuses: readonly WorktreeStatus[] =
    options.status === undefined
      ? ["creating", "active", "merging", "merged", "conflict"]
      : options.status === "untracked"
        ? []
        : [options.status];
  const rows = statuses.length ? o.worktrees.list(statuses) : [];
  const views: WorktreeView[] = [];
  const claimed = new Set<WorktreeEntry>();
  for (const row of rows) {
    const entry = entryFor(entries, row.worktree_path);
    const live = !["removed", "abandoned"].includes(row.status);
    if (entry && live) claimed.add(entry);
    const exists = existsSync(row.worktree_path);
    const problems: string[] = [];
    const view: WorktreeView = {
      task_id: row.task_id,
      branch: row.branch,
      worktree_path: row.worktree_path,
      status: row.status,
      base_branch: row.base_branch,
      merge_commit: row.merge_commit,
      conflicts: row.conflicts ? (JSON.parse(row.conflicts) as string[]) : [],
      ahead: null,
      behind: null,
      registered: entry !== undefined,
      directory_exists: exists,
      locked: entry?.locked ?? null,
      prunable: entry?.prunable ?? null,
      problems,
    };
    if (live) {
      if (!exists) {
        problems.push(
          `directory is gone${entry ? " (git still has it registered: cleanup prunes it)" : ""}; \`worktrees create --task-id ${row.task_id}\` makes it again on the same branch`,
        );
      } else if (!entry) problems.push("directory exists but git does not know it as a worktree");
      if (entry && entry.branch !== row.branch) {
        problems.push(
          `git has branch ${entry.branch ?? "(detached)"} checked out there, not ${row.branch}`,
        );
      }
      if (entry?.locked) problems.push(`locked: ${entry.locked}`);
      await fillAheadBehind(l, view, row.merge_target ?? l.integration, row.status !== "merged");
    }
    views.push(view);
  }
  if (options.status === undefined || options.status === "untracked") {
    for (const [i, entry] of entries.entries()) {
      if (i === 0 || entry.bare || claimed.has(entry)) continue;
      const taskId = entry.branch?.startsWith(TASK_BRANCH_PREFIX)
        ? entry.branch.slice(TASK_BRANCH_PREFIX.length)
        : null;
      const view: WorktreeView = {
        task_id: taskId,
        branch: entry.branch,
        worktree_path: entry.path,
        status: "untracked",
        base_branch: null,
        merge_commit: null,
        conflicts: [],
        ahead: null,
        behind: null,
        registered: true,
        directory_exists: existsSync(entry.path),
        locked: entry.locked,
        prunable: entry.prunable,
        problems: ["git has this worktree but the orchestrator database does not"],
      };
      if (entry.prunable !== null) view.problems.push(`prunable: ${entry.prunable || "stale"}`);
      await fillAheadBehind(l, view, l.integration, true);
      views.push(view);
    }
  }
  return { worktrees: views };
}

async function fillAheadBehind(
  l: Layout,
  view: WorktreeView,
  into: string,
  reportMissing: boolean,
): Promise<void> {
  if (!view.branch || !isValidBranchName(view.branch) || !isValidBranchName(into)) return;
  const [tip, target] = await Promise.all([
    l.repo.branchCommit(view.branch),
    l.repo.branchCommit(into),
  ]);
  if (!tip) {
    if (reportMissing) view.problems.push(`branch ${view.branch} is gone`);
    return;
  }
  if (!target) return;
  const { ahead, behind } = await l.repo.aheadBehind(view.branch, into);
  view.ahead = ahead;
  view.behind = behind;
}
