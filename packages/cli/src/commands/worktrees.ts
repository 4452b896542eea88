import {
  cleanupWorktrees,
  createWorktree,
  LIST_STATUSES,
  type ListStatus,
  listWorktrees,
  mergeWorktree,
  renderCleanup,
  renderCreate,
  renderMerge,
  renderWorktreeList,
} from "@orchestrator/core";
import type { Command } from "commander";
import { execute } from "../output.js";
import { oneOf } from "../parse.js";

export function registerWorktrees(program: Command): void {
  const worktrees = program
    .command("worktrees")
    .description(
      "one git worktree and branch per task: create, list, merge into the integration branch, clean up",
    );

  worktrees
    .command("create")
    .description(
      "make the task's worktree at <worktree_root>/task-<id> on a new branch roadmap-implementation_task-<id>",
    )
    .requiredOption("--task-id <id>", "the task")
    .option("--base <branch>", "branch to start from (default: the integration branch)")
    .option("--reuse", "return the task's existing worktree instead of failing with WorktreeExists")
    .addHelpText(
      "after",
      "\nExamples:\n  $ orchestrator worktrees create --task-id auth-api\n  $ orchestrator worktrees create --task-id auth-api --base roadmap --reuse --json",
    )
    .action(async (flags: { taskId: string; base?: string; reuse?: boolean }, cmd: Command) => {
      await execute(
        "worktrees create",
        cmd,
        (o) =>
          createWorktree(o, flags.taskId, {
            reuse: flags.reuse ?? false,
            ...(flags.base !== undefined ? { base: flags.base } : {}),
          }),
        renderCreate,
      );
    });

  worktrees
    .command("list")
    .description(
      "the worktrees, reconciled with git: status, ahead/behind, and what does not agree (repairs interrupted creates and merges)",
    )
    .option(
      "--status <status>",
      `only this status (${LIST_STATUSES.join(", ")})`,
      oneOf(LIST_STATUSES),
    )
    .addHelpText(
      "after",
      "\nExamples:\n  $ orchestrator worktrees list\n  $ orchestrator worktrees list --status active --json",
    )
    .action(async (flags: { status?: ListStatus }, cmd: Command) => {
      await execute(
        "worktrees list",
        cmd,
        (o) => listWorktrees(o, flags.status !== undefined ? { status: flags.status } : {}),
        renderWorktreeList,
      );
    });

  worktrees
    .command("merge")
    .description(
      "merge the task branch into the integration branch (--no-ff, 'merge: complete <id>') without touching any working tree; on success the task is completed",
    )
    .requiredOption("--task-id <id>", "the task")
    .option("--into <branch>", "branch to merge into (default: the integration branch)")
    .addHelpText(
      "after",
      "\nExamples:\n  $ orchestrator worktrees merge --task-id auth-api\n  $ orchestrator worktrees merge --task-id auth-api --into roadmap --json",
    )
    .action(async (flags: { taskId: string; into?: string }, cmd: Command) => {
      await execute(
        "worktrees merge",
        cmd,
        (o) => mergeWorktree(o, flags.taskId, flags.into !== undefined ? { into: flags.into } : {}),
        renderMerge,
      );
    });

  worktrees
    .command("cleanup")
    .description(
      "remove worktrees and branches that are merged into the integration branch; unmerged work is kept unless --force",
    )
    .option("--task-id <id>", "only this task's worktree")
    .option("--merged", "every worktree whose branch is merged (the default without --task-id)")
    .option("--force", "with --task-id: remove it even if unmerged or dirty (its commits are lost)")
    .addHelpText(
      "after",
      "\nExamples:\n  $ orchestrator worktrees cleanup --merged\n  $ orchestrator worktrees cleanup --task-id auth-api --force --json",
    )
    .action(async (flags: { taskId?: string; merged?: boolean; force?: boolean }, cmd: Command) => {
      await execute(
        "worktrees cleanup",
        cmd,
        (o) =>
          cleanupWorktrees(o, {
            merged: flags.merged ?? false,
            force: flags.force ?? false,
            ...(flags.taskId !== undefined ? { taskId: flags.taskId } : {}),
          }),
        renderCleanup,
      );
    });
}
