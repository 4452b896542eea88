import { GitError } from "./errors.js";
import { isObjectId } from "./validate.js";

/** One record of `git worktree list --porcelain`. */
export interface WorktreeEntry {
  path: string;
  head: string | null;
  /** Short branch name, or null when detached or bare. */
  branch: string | null;
  bare: boolean;
  detached: boolean;
  /** The lock reason ("" when locked without one), or null when not locked. */
  locked: string | null;
  /** Why `git worktree prune` would remove it ("" without a reason), or null. */
  prunable: string | null;
}

/** Parses `git worktree list --porcelain -z`: NUL-terminated lines, records ended by an empty one. */
export function parseWorktreeList(output: string): WorktreeEntry[] {
  const entries: WorktreeEntry[] = [];
  let current: WorktreeEntry | undefined;
  for (const line of output.split("\0")) {
    if (line === "") {
      if (current) entries.push(current);
      current = undefined;
      continue;
    }
    const space = line.indexOf(" ");
    const key = space < 0 ? line : line.slice(0, space);
    const value = space < 0 ? "" : line.slice(space + 1);
    if (key === "worktree") {
      if (current) entries.push(current);
      current = {
        path: value,
        head: null,
        branch: null,
        bare: false,
        detached: false,
        locked: null,
        prunable: null,
      };
      continue;
    }
    if (!current) continue;
    switch (key) {
      case "HEAD":
        current.head = value;
        break;
      case "branch":
        current.branch = value.replace(/^refs\/heads\//, "");
        break;
      case "bare":
        current.bare = true;
        break;
      case "detached":
        current.detached = true;
        break;
      case "locked":
        current.locked = value;
        break;
      case "prunable":
        current.prunable = value;
        break;
    }
  }
  if (current) entries.push(current);
  return entries;
}

/**
 * Parses `git merge-tree --write-tree --name-only --no-messages -z`: the tree id, then (on
 * conflict, exit status 1) each conflicting path, every item NUL-terminated.
 */
export function parseMergeTree(
  output: string,
  exitCode: number,
): { clean: true; tree: string } | { clean: false; tree: string; conflicts: string[] } {
  const [tree = "", ...rest] = output.split("\0");
  if (!isObjectId(tree)) {
    throw new GitError(`git merge-tree printed no tree id`, { output: output.slice(0, 500) });
  }
  if (exitCode === 0) return { clean: true, tree };
  const conflicts = [...new Set(rest.filter((p) => p.length > 0))].sort();
  return { clean: false, tree, conflicts };
}
