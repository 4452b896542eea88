import { invalidInput } from "./errors.js";
import { codePoint } from "./input.js";

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * Task ids become part of a branch name and a directory name, so they are held to a form that
 * is a safe path segment and a valid git ref component: letters, digits, `.`, `_`, `-`; no
 * leading punctuation, no `..`, no trailing `.` or `.lock`.
 */
export function isValidId(id: unknown): id is string {
  return (
    typeof id === "string" &&
    NAME.test(id) &&
    !id.includes("..") &&
    !id.endsWith(".") &&
    !id.endsWith(".lock")
  );
}

export const ID_RULE =
  "1-64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit, without '..' or a trailing '.' or '.lock'";

/**
 * What is wrong with an id, in a few words: the first character not allowed is named by its
 * code point (a look-alike such as Cyrillic 'а' U+0430, or an invisible one such as U+200B, is
 * otherwise impossible to see). Undefined when it is valid.
 */
export function idProblem(id: unknown): string | undefined {
  if (isValidId(id)) return undefined;
  if (typeof id !== "string") return `not a string but ${id === null ? "null" : typeof id}`;
  if (id.length === 0) return "empty";
  const bad = [...id].find((c) => !/[A-Za-z0-9._-]/.test(c));
  if (bad !== undefined) return `contains ${codePoint(bad)}, which is not allowed`;
  if (id.length > 64) return `${id.length} characters long`;
  if (!/^[A-Za-z0-9]/.test(id)) return `starts with '${id[0]}'`;
  if (id.includes("..")) return "contains '..'";
  return id.endsWith(".") ? "ends with '.'" : "ends with '.lock'";
}

export function requireValidIds(kind: string, ids: readonly unknown[]): void {
  const bad = ids.filter((id) => !isValidId(id));
  if (bad.length > 0) {
    const shown = bad
      .slice(0, 10)
      .map((id) => `${JSON.stringify(id)} (${idProblem(id)})`)
      .join(", ");
    throw invalidInput(
      `invalid ${kind}${bad.length > 1 ? "s" : ""} ${shown}${bad.length > 10 ? ` and ${bad.length - 10} more` : ""}: ${ID_RULE}`,
      { [`invalid_${kind.replace(/ /g, "_")}s`]: bad },
    );
  }
}

/**
 * Refuses ids that differ from another only in letter case (`Auth-API` beside `auth-api`):
 * their worktree directories and branch names clash on a case-insensitive file system (macOS,
 * Windows). `ids` are checked among themselves and against `existing`. Names both ids.
 */
export function requireNoCaseTwins(
  kind: string,
  ids: readonly string[],
  existing: Iterable<string> = [],
): void {
  const byFolded = new Map<string, string>();
  for (const id of existing) byFolded.set(id.toLowerCase(), id);
  const twins: [string, string][] = [];
  for (const id of ids) {
    const other = byFolded.get(id.toLowerCase());
    if (other !== undefined && other !== id) twins.push([id, other]);
    else byFolded.set(id.toLowerCase(), id);
  }
  if (twins.length > 0) {
    throw invalidInput(
      `${kind} ${twins
        .slice(0, 10)
        .map(([a, b]) => `${JSON.stringify(a)} and ${JSON.stringify(b)}`)
        .join(
          ", ",
        )} differ only in letter case; their worktrees and branches would clash on a case-insensitive file system. Rename one`,
      { case_twins: twins },
    );
  }
}
