import { invalidInput } from "./errors.js";

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

export function requireValidIds(kind: string, ids: readonly unknown[]): void {
  const bad = ids.filter((id) => !isValidId(id));
  if (bad.length > 0) {
    throw invalidInput(
      `invalid ${kind}${bad.length > 1 ? "s" : ""} ${bad.map((id) => JSON.stringify(id)).join(", ")}: ${ID_RULE}`,
      { [`invalid_${kind.replace(/ /g, "_")}s`]: bad },
    );
  }
}
