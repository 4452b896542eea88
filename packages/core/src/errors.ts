import { toDatabaseError } from "@orchestrator/db";
import { GitError } from "@orchestrator/git";

/**
 * Every error the orchestrator reports on purpose: a stable code, a message that says what
 * happened and what to do next, the offending values in `details`, and a process exit status.
 */
export class OrchestratorError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = code;
  }

  get exitCode(): number {
    return EXIT_CODES[this.code];
  }
}

/** Exit statuses, documented in the README. 1 is an unexpected internal error. */
export const EXIT_CODES = {
  InvalidInput: 2,
  TaskNotFound: 3,
  AgentNotFound: 3,
  MessageNotFound: 3,
  DependencyCycle: 4,
  SingletonViolation: 5,
  WorktreeExists: 6,
  MergeConflict: 7,
  NoAvailableWork: 8,
  GitError: 9,
  DatabaseError: 10,
  /** route acknowledge/fail with a receipt that no longer holds the message's lease. */
  StaleReceipt: 11,
} as const;
export type ErrorCode = keyof typeof EXIT_CODES;

export const invalidInput = (message: string, details: Record<string, unknown> = {}) =>
  new OrchestratorError("InvalidInput", message, details);

export const taskNotFound = (ids: readonly string[]) =>
  new OrchestratorError(
    "TaskNotFound",
    `unknown task id${ids.length > 1 ? "s" : ""}: ${ids.map((id) => JSON.stringify(id)).join(", ")}; run \`orchestrator tasks list\` to see the tasks`,
    { task_ids: ids },
  );

export interface ReportedError {
  code: string;
  message: string;
  details: Record<string, unknown>;
  exitCode: number;
}

/** Any thrown value as the error a user sees. Unknown errors keep their message and exit 1. */
export function describeError(
  error: unknown,
  databaseFile = "(database)",
  busyTimeoutMs?: number,
): ReportedError {
  if (error instanceof OrchestratorError) {
    return {
      code: error.code,
      message: error.message,
      details: error.details,
      exitCode: error.exitCode,
    };
  }
  if (error instanceof GitError) {
    return {
      code: error.code,
      message: error.message,
      details: error.details,
      exitCode: EXIT_CODES.GitError,
    };
  }
  const databaseError = toDatabaseError(
    error,
    databaseFile,
    busyTimeoutMs !== undefined ? { busyTimeoutMs } : {},
  );
  if (databaseError) {
    return {
      code: databaseError.code,
      message: databaseError.message,
      details: databaseError.details,
      exitCode: EXIT_CODES.DatabaseError,
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: "InternalError", message, details: {}, exitCode: 1 };
}
