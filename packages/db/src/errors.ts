import { statfsSync } from "node:fs";
import { dirname } from "node:path";

/** Thrown for anything wrong with the database file itself: not SQLite, too new, locked, full, read-only. */
export class DatabaseError extends Error {
  readonly code = "DatabaseError";
  constructor(
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "DatabaseError";
  }
}

interface SqliteErrorLike {
  code?: unknown;
  message: string;
}

/** The environment variable that sets how long a command waits for another process's lock. */
export const BUSY_TIMEOUT_ENV = "ORCHESTRATOR_BUSY_TIMEOUT_MS";

/** Below this much free space, an I/O error while writing is reported as a full disk. */
const NEARLY_FULL_BYTES = 1024 * 1024;

const SQLITE_ADVICE: Record<string, string> = {
  SQLITE_LOCKED: "the database is locked by another connection; retry the command",
  SQLITE_READONLY: "the database file is read-only; check its permissions",
  SQLITE_READONLY_DIRECTORY:
    "the database's directory is read-only; make it writable or point --db elsewhere",
  SQLITE_READONLY_DBMOVED: "the database file was moved or deleted while open; retry the command",
  SQLITE_CORRUPT:
    "the database file is corrupt; restore it from a backup or artifact, or start again with init",
  SQLITE_NOTADB: "the file is not a SQLite database; point --db at the orchestrator database",
  SQLITE_CANTOPEN: "the database file cannot be opened; check the path and its directory",
  SQLITE_IOERR: "an I/O error occurred; check the disk",
};

/** Bytes free for this user on the file system holding `dir`, or undefined when unknown. */
function freeBytes(dir: string): number | undefined {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

export interface DatabaseErrorContext {
  /** The busy timeout the command ran with, for the message of a lock held too long. */
  busyTimeoutMs?: number;
}

/** Turns a driver error (SqliteError) into a DatabaseError naming the file and what to do. */
export function toDatabaseError(
  error: unknown,
  file: string,
  context: DatabaseErrorContext = {},
): DatabaseError | undefined {
  if (error instanceof DatabaseError) return error;
  const e = error as SqliteErrorLike;
  if (typeof e?.code !== "string" || !e.code.startsWith("SQLITE_")) return undefined;
  const family = e.code.replace(/^(SQLITE_[A-Z]+)(_[A-Z_]+)?$/, "$1");
  if (family === "SQLITE_BUSY") {
    const waited = context.busyTimeoutMs !== undefined ? ` (${context.busyTimeoutMs} ms)` : "";
    return new DatabaseError(
      `database ${file} is busy: it is locked by another process, which held the lock for longer than the busy timeout${waited} (${e.code}); retry when that process has finished, or let commands wait longer by setting ${BUSY_TIMEOUT_ENV}`,
      { file, sqlite_code: e.code, busy_timeout_ms: context.busyTimeoutMs ?? null },
    );
  }
  if (family === "SQLITE_FULL" || family === "SQLITE_IOERR") {
    // SQLite reports a full disk as SQLITE_FULL, or (growing the -shm file) as an I/O error.
    const dir = file === ":memory:" ? undefined : dirname(file);
    const free = dir === undefined ? undefined : freeBytes(dir);
    if (family === "SQLITE_FULL" || (free !== undefined && free < NEARLY_FULL_BYTES)) {
      return new DatabaseError(
        `database ${file}: the disk is full${free !== undefined ? ` (${free} bytes free in ${dir})` : ""} (${e.code}); free space there and retry (the change was not written)`,
        { file, sqlite_code: e.code, free_bytes: free ?? null },
      );
    }
  }
  const advice = SQLITE_ADVICE[e.code] ?? SQLITE_ADVICE[family] ?? "see the SQLite error code";
  return new DatabaseError(`database ${file}: ${e.message} (${e.code}): ${advice}`, {
    file,
    sqlite_code: e.code,
  });
}
