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

const SQLITE_ADVICE: Record<string, string> = {
  SQLITE_BUSY:
    "another process held the database lock for longer than the busy timeout; retry the command",
  SQLITE_LOCKED: "the database is locked by another connection; retry the command",
  SQLITE_FULL: "the disk is full; free space and retry (nothing was written)",
  SQLITE_READONLY: "the database file is read-only; check its permissions",
  SQLITE_READONLY_DBMOVED: "the database file was moved or deleted while open; retry the command",
  SQLITE_CORRUPT:
    "the database file is corrupt; restore it from a backup or artifact, or start again with init",
  SQLITE_NOTADB: "the file is not a SQLite database; point --db at the orchestrator database",
  SQLITE_CANTOPEN: "the database file cannot be opened; check the path and its directory",
  SQLITE_IOERR: "an I/O error occurred; check the disk",
};

/** Turns a driver error (SqliteError) into a DatabaseError naming the file and what to do. */
export function toDatabaseError(error: unknown, file: string): DatabaseError | undefined {
  if (error instanceof DatabaseError) return error;
  const e = error as SqliteErrorLike;
  if (typeof e?.code !== "string" || !e.code.startsWith("SQLITE_")) return undefined;
  const family = e.code.replace(/^(SQLITE_[A-Z]+)(_[A-Z_]+)?$/, "$1");
  const advice = SQLITE_ADVICE[e.code] ?? SQLITE_ADVICE[family] ?? "see the SQLite error code";
  return new DatabaseError(`database ${file}: ${e.message} (${e.code}): ${advice}`, {
    file,
    sqlite_code: e.code,
  });
}
