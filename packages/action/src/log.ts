import { safeLines } from "@orchestrator/core";

/**
 * Text for the step's log (and annotation messages): control characters, terminal escapes and
 * bidi controls shown as visible escapes (`safeLines`), and no line able to start a workflow
 * command: a line that would begin with `::` or `##[` (after blanks) gets a backslash first.
 */
export function logText(text: string): string {
  return safeLines(text).replace(/^(\s*)(::|##\[)/gm, "$1\\$2");
}
