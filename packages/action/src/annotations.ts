import * as core from "@actions/core";
import { safeLines, safeText } from "@orchestrator/core";
import { logText } from "./log.js";

/** GitHub shows at most 10 warning and 10 error annotations per step. */
export const ANNOTATION_LIMIT = 10;

export interface Annotation {
  title: string;
  message: string;
}

/**
 * Collects a step's annotations and emits them within GitHub's limits: past the ninth of a kind,
 * the tenth says how many more there were (they are all in the summary and the log).
 */
export class Annotations {
  readonly errors: Annotation[] = [];
  readonly warnings: Annotation[] = [];

  error(title: string, message: string): void {
    this.errors.push({ title, message });
  }

  warning(title: string, message: string): void {
    this.warnings.push({ title, message });
  }

  /**
   * Emits them, each text passed through `clean` (the action's redaction of secrets), then made
   * safe: control characters and terminal escapes shown as visible escapes, no line able to
   * start a workflow command.
   */
  emit(clean: (text: string) => string = (text) => text): void {
    const message = (text: string) => logText(safeLines(clean(text)));
    const title = (text: string) => safeText(clean(text));
    for (const a of capped(this.errors)) core.error(message(a.message), { title: title(a.title) });
    for (const a of capped(this.warnings))
      core.warning(message(a.message), { title: title(a.title) });
  }
}

export function capped(list: readonly Annotation[], limit = ANNOTATION_LIMIT): Annotation[] {
  if (list.length <= limit) return [...list];
  const rest = list.length - (limit - 1);
  return [
    ...list.slice(0, limit - 1),
    { title: `${rest} more`, message: `${rest} more like these: see the job summary and the log` },
  ];
}
