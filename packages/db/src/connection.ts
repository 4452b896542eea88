import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readSync,
  statSync,
} from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { DatabaseError, toDatabaseError } from "./errors.js";
import { MIGRATIONS, SCHEMA_VERSION } from "./migrations.js";

export type Db = Database.Database;

export interface OpenOptions {
  /** How long a command waits for another process's write lock, in ms. */
  busyTimeoutMs?: number;
  /** Path of better-sqlite3's native addon, for bundled entry points (the GitHub Action). */
  nativeBinding?: string;
  /** Open without creating or migrating (reports, inspection). */
  readonly?: boolean;
}

const SQLITE_HEADER = "SQLite format 3\0";
export const DEFAULT_BUSY_TIMEOUT_MS = 10_000;

/**
 * Opens (creating if needed) the orchestrator database and brings its schema up to date.
 * A file that is not SQLite, or whose schema is newer than this build knows, is refused
 * before anything is written to it.
 */
export function openDatabase(file: string, options: OpenOptions = {}): Db {
  const inMemory = file === ":memory:";
  if (!inMemory) refuseForeignFile(file);
  if (!inMemory && !options.readonly) requireWritable(file);

  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  let db: Db;
  try {
    db = new Database(file, {
      timeout: busyTimeoutMs,
      readonly: options.readonly ?? false,
      fileMustExist: options.readonly ?? false,
      ...(options.nativeBinding ? { nativeBinding: options.nativeBinding } : {}),
    });
  } catch (error) {
    throw toDatabaseError(error, file, { busyTimeoutMs }) ?? error;
  }
  try {
    refuseForeignSchema(db, file);
    refuseNewerSchema(db, file);
    if (!options.readonly) {
      if (!inMemory) db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
    }
    db.pragma("foreign_keys = ON");
    db.pragma("temp_store = MEMORY");
    if (!options.readonly) migrate(db);
    return db;
  } catch (error) {
    db.close();
    throw toDatabaseError(error, file, { busyTimeoutMs }) ?? error;
  }
}

function refuseForeignFile(file: string): void {
  if (!existsSync(file)) return;
  const stat = statSync(file);
  if (stat.isDirectory()) {
    throw new DatabaseError(`database ${file} is a directory; point --db at a file`, { file });
  }
  if (stat.size === 0) return;
  const header = Buffer.alloc(SQLITE_HEADER.length);
  const fd = openSync(file, "r");
  try {
    readSync(fd, header, 0, header.length, 0);
  } finally {
    closeSync(fd);
  }
  if (header.toString("latin1") !== SQLITE_HEADER) {
    throw new DatabaseError(
      `database ${file} is not a SQLite database; it was left untouched. Point --db (or ORCHESTRATOR_DB) at the orchestrator database, or move the file away and run init`,
      { file },
    );
  }
}

function writable(path: string, mode = constants.W_OK): boolean {
  try {
    accessSync(path, mode);
    return true;
  } catch {
    return false;
  }
}

/**
 * Refuses, before SQLite opens anything, a database this process could not write: a read-only
 * file, a stale read-only `-wal` or `-shm` beside it (SQLite would report the database itself as
 * read-only), or a directory where the `-wal` and `-shm` files cannot be created. SQLite
 * otherwise falls back to a read-only open and fails later with a less helpful error.
 */
function requireWritable(file: string): void {
  const dir = dirname(file);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw new DatabaseError(
      `cannot create the directory ${dir} for database ${file}: ${(error as Error).message}; create it (or fix its parent's permissions), or point --db elsewhere. Nothing was changed`,
      { file, path: dir },
    );
  }
  if (existsSync(file) && !writable(file)) {
    throw new DatabaseError(
      `database ${file} is read-only: this user may not write it; make it writable (e.g. \`chmod u+w ${file}\`) and retry. Nothing was changed`,
      { file, path: file },
    );
  }
  for (const suffix of ["-wal", "-shm"]) {
    const path = `${file}${suffix}`;
    if (existsSync(path) && !writable(path)) {
      throw new DatabaseError(
        `database ${file} cannot be written: ${path} beside it is read-only (left by a read-only open or another user); make it writable (e.g. \`chmod u+w ${path}\`) and retry. Nothing was changed`,
        { file, path },
      );
    }
  }
  if (!writable(dir, constants.W_OK | constants.X_OK)) {
    throw new DatabaseError(
      `database ${file} cannot be written: its directory ${dir} is read-only, and SQLite creates its -wal and -shm files there; make the directory writable (e.g. \`chmod u+w ${dir}\`) or point --db elsewhere. Nothing was changed`,
      { file, path: dir },
    );
  }
}

/** The table every version of the orchestrator's schema has (the first migration makes it). */
const OUR_TABLE = "specs_task";

/**
 * Refuses, before anything is written (not even the WAL switch), a SQLite database that holds
 * another application's schema: tables, indexes or views but not ours. Adding our tables to it
 * would change a file that is not ours. An empty database is ours to initialise.
 */
function refuseForeignSchema(db: Db, file: string): void {
  const objects = db
    .prepare(
      "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
    )
    .pluck()
    .all() as string[];
  if (objects.length === 0 || objects.includes(OUR_TABLE)) return;
  throw new DatabaseError(
    `database ${file} is a SQLite database of another application (it holds ${objects
      .slice(0, 5)
      .map((n) => JSON.stringify(n))
      .join(
        ", ",
      )}${objects.length > 5 ? ", …" : ""} and no orchestrator tables); it was left untouched. Point --db (or ORCHESTRATOR_DB) at the orchestrator database, or at a new file`,
    { file, foreign_objects: objects.slice(0, 20) },
  );
}

function refuseNewerSchema(db: Db, file: string): void {
  const version = schemaVersion(db);
  if (version > SCHEMA_VERSION) {
    throw new DatabaseError(
      `database ${file} has schema version ${version}, newer than this orchestrator understands (${SCHEMA_VERSION}); it was left untouched. Upgrade the orchestrator`,
      { file, version, supported: SCHEMA_VERSION },
    );
  }
}

export function schemaVersion(db: Db): number {
  return db.pragma("user_version", { simple: true }) as number;
}

/** Applies the migrations not yet applied, each inside one IMMEDIATE transaction. */
export function migrate(db: Db): void {
  if (schemaVersion(db) === SCHEMA_VERSION) return;
  db.transaction(() => {
    // Re-read under the write lock: another process may have migrated meanwhile.
    for (let v = schemaVersion(db); v < SCHEMA_VERSION; v++) {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    }
  }).immediate();
}

const immediateRunners = new WeakMap<Db, (fn: () => unknown) => unknown>();

/** Runs fn inside BEGIN IMMEDIATE: every read-modify-write goes through here. */
export function writeTransaction<T>(db: Db, fn: () => T): T {
  // One transaction function per connection, given fn as its argument: building a new one per
  // call (db.transaction(fn)) cost more than the BEGIN itself on hot paths such as route.
  let run = immediateRunners.get(db);
  if (!run) {
    run = db.transaction((body: () => unknown) => body()).immediate;
    immediateRunners.set(db, run);
  }
  return run(fn) as T;
}
