import { readFileSync } from "node:fs";
import { shorten } from "@orchestrator/core";
import { TASK_BRANCH_PREFIX, taskIdFromBranch } from "./branch.js";
import { InputError } from "./inputs.js";

export type MergedPullRequest =
  | { task_id: string; pull_request: number; branch: string; merge_commit: string | null }
  | { skipped: string };

/**
 * What a `pull_request` event means for the task graph: a merged pull request from a task branch
 * (`roadmap-implementation_task-{id}`) completes that task. Anything else is skipped with the
 * reason; a task branch whose id is not a valid task id is refused.
 */
export function mergedPullRequest(
  eventName: string | undefined,
  payload: unknown,
): MergedPullRequest {
  if (eventName !== "pull_request") {
    return { skipped: `the event is ${JSON.stringify(eventName ?? "")}, not pull_request` };
  }
  const event = payload as {
    action?: unknown;
    pull_request?: {
      merged?: unknown;
      number?: unknown;
      head?: { ref?: unknown };
      merge_commit_sha?: unknown;
    };
  };
  const pr = event?.pull_request;
  if (!pr || typeof pr !== "object")
    throw new InputError("the pull_request event has no pull_request");
  if (event.action !== "closed")
    return { skipped: `the pull request was ${String(event.action)}, not closed` };
  if (pr.merged !== true) return { skipped: "the pull request was closed without merging" };
  const branch = pr.head?.ref;
  if (typeof branch !== "string") throw new InputError("the pull request has no head branch");
  if (!branch.startsWith(TASK_BRANCH_PREFIX)) {
    return {
      skipped: `branch ${JSON.stringify(shorten(branch, 200))} is not a task branch (${TASK_BRANCH_PREFIX}{id})`,
    };
  }
  const taskId = taskIdFromBranch(branch);
  if (!taskId) {
    throw new InputError(
      `branch ${JSON.stringify(shorten(branch, 200))} does not name a valid task id after ${TASK_BRANCH_PREFIX}`,
      { branch: shorten(branch, 200) },
    );
  }
  const number = typeof pr.number === "number" && Number.isInteger(pr.number) ? pr.number : 0;
  return {
    task_id: taskId,
    pull_request: number,
    branch,
    merge_commit: typeof pr.merge_commit_sha === "string" ? pr.merge_commit_sha : null,
  };
}

export function readEvent(path: string | undefined): unknown {
  if (!path)
    throw new InputError(
      "GITHUB_EVENT_PATH is not set: pr-merged runs in a workflow triggered by pull_request",
    );
  return JSON.parse(readFileSync(path, "utf8"));
}
