import { invalidInput } from "./errors.js";

/** Longest `--reason` (tasks complete / fail, route fail), in UTF-16 code units. */
export const MAX_REASON_LENGTH = 4_096;

/** A character as `U+XXXX`, the way errors name one that is refused. */
export function codePoint(c: string): string {
  return `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
}

/** The first lone surrogate in `text` and where it is, or undefined when it is well-formed. */
function loneSurrogate(text: string): { at: number; unit: string } | undefined {
  if (text.isWellFormed()) return undefined;
  const m = /\p{Cs}/u.exec(text);
  return m ? { at: m.index, unit: codePoint(m[0]) } : undefined;
}

/**
 * Refuses any string inside `value` (keys included) that is not well-formed Unicode: a lone
 * surrogate (half of a UTF-16 pair, e.g. from a JSON `"\ud800"` escape) would be stored as
 * U+FFFD, silently changing the text. Names the path and the code unit.
 */
export function requireWellFormed(value: unknown, what: string): void {
  const stack: Visit[] = [{ value, parent: undefined, key: "", isKey: false }];
  while (stack.length > 0) {
    const visit = stack.pop()!;
    const v = visit.value;
    if (typeof v === "string") {
      const bad = loneSurrogate(v);
      if (bad) {
        const path = pathOf(visit);
        throw invalidInput(
          `${what}${path ? ` at ${path}` : ""} is not well-formed Unicode: a lone surrogate ${bad.unit} at character ${bad.at}; every character must be complete (fix the \\u escape)`,
          { path: path || null, code_unit: bad.unit, index: bad.at },
        );
      }
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) {
        stack.push({ value: v[i], parent: visit, key: String(i), isKey: false });
      }
    } else if (typeof v === "object" && v !== null) {
      for (const [k, child] of Object.entries(v)) {
        stack.push({ value: k, parent: visit, key: k, isKey: true });
        stack.push({ value: child, parent: visit, key: k, isKey: false });
      }
    }
  }
}

/** A value met while walking a document, with the way back to its root. */
interface Visit {
  value: unknown;
  parent: Visit | undefined;
  key: string;
  isKey: boolean;
}

/** `tasks.3.title`, or `tasks.3.ti\ud800 (the key)` for a key: built only to report a problem. */
function pathOf(visit: Visit): string {
  const keys: string[] = [];
  for (let v: Visit | undefined = visit; v?.parent; v = v.parent) keys.push(v.key);
  const path = keys.reverse().join(".");
  return visit.isKey ? `${path} (the key)` : path;
}

/** A `--reason`: at most MAX_REASON_LENGTH characters of well-formed text. */
export function requireReason(flag: string, reason: string | null): string | null {
  if (reason === null) return null;
  if (reason.length > MAX_REASON_LENGTH) {
    throw invalidInput(
      `${flag} is ${reason.length} characters; the limit is ${MAX_REASON_LENGTH}. Say it shorter (put long logs in a file and give its path)`,
      { reason: "reason_too_long", length: reason.length, limit: MAX_REASON_LENGTH },
    );
  }
  requireWellFormed(reason, flag);
  return reason;
}
