import { isValidId } from "@orchestrator/core";

export const TASK_BRANCH_PREFIX = "roadmap-implementation_task-";

/**
 * The task id in a task branch's name (`roadmap-implementation_task-{id}`, CFR-013), or
 * undefined when the branch is not a task branch or the id is not a valid task id. Accepts
 * `refs/heads/…` too. Nothing else is ever read out of a branch name.
 */
export function taskIdFromBranch(ref: unknown): string | undefined {
  if (typeof ref !== "string") return undefined;
  const name = ref.startsWith("refs/heads/") ? ref.slice("refs/heads/".length) : ref;
  if (!name.startsWith(TASK_BRANCH_PREFIX)) return undefined;
  const id = name.slice(TASK_BRANCH_PREFIX.length);
  return isValidId(id) ? id : undefined;
}
