import { existsSync, realpathSync } from "node:fs";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { GitError } from "./errors.js";

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
const FORBIDDEN = /[\u0000-\u0020\u007f~^:?*[\\]/;

/**
 * Whether `name` is a branch name git accepts (the rules of `git check-ref-format --branch`)
 * and that cannot be mistaken for an option: no leading '-', no '..', no '@{', no control
 * characters, spaces or any of ~ ^ : ? * [ \, no component starting with '.' or ending in
 * '.lock', no empty component, no trailing '/' or '.', and not '@' alone.
 */
export function isValidBranchName(name: unknown): name is string {
  if (typeof name !== "string" || name.length === 0 || name.length > 200) return false;
  if (name.startsWith("-") || name === "@" || name === "HEAD") return false;
  if (FORBIDDEN.test(name) || name.includes("..") || name.includes("@{")) return false;
  if (name.endsWith("/") || name.endsWith(".")) return false;
  return name
    .split("/")
    .every((part) => part.length > 0 && !part.startsWith(".") && !part.endsWith(".lock"));
}

export function requireBranchName(name: unknown, what = "branch name"): string {
  if (!isValidBranchName(name)) {
    throw new GitError(
      `invalid ${what} ${JSON.stringify(name)}: not a valid git branch name (no leading '-', no '..', spaces, control characters or any of ~ ^ : ? * [ \\)`,
      { [what.replace(/ /g, "_")]: name },
    );
  }
  return name;
}

/** A full object id (SHA-1 or SHA-256 hex). */
export function isObjectId(value: unknown): value is string {
  return typeof value === "string" && /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(value);
}

/** `path` resolved the way the filesystem will: symlinks of its existing ancestors followed. */
export function realPath(path: string): string {
  let existing = resolve(path);
  const rest: string[] = [];
  while (!existsSync(existing)) {
    const parent = dirname(existing);
    if (parent === existing) break;
    rest.unshift(existing.slice(parent.length).replace(/^[\\/]/, ""));
    existing = parent;
  }
  return resolve(realpathSync.native(existing), ...rest);
}

/**
 * The absolute path of `path`, refused unless it lies strictly inside `root` once symlinks are
 * followed: a worktree path can never escape the configured worktree root.
 */
export function requireInside(root: string, path: string): string {
  const realRoot = realPath(root);
  const real = realPath(resolve(root, path));
  const rel = relative(realRoot, real);
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) {
    throw new GitError(`worktree path ${path} is outside the worktree root ${root}; refused`, {
      path,
      root,
    });
  }
  return real;
}
