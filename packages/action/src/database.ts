import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MIGRATIONS, openDatabase, SCHEMA_VERSION, writeTransaction } from "@orchestrator/db";
import Database from "better-sqlite3";
import { type ArtifactRef, type ArtifactStore, SizeLimitError } from "./artifacts.js";
import { readSingleFile } from "./zip.js";

/** The file inside every database artifact. */
export const DB_FILE = "orchestrator.db";
const SQLITE_HEADER = Buffer.from("SQLite format 3\0", "latin1");

/**
 * A run may write the database more than once (one step per command) but artifact names are
 * unique per run, so the database alternates between two names: `<base>` and `<base>-b`. The
 * newest of both (highest artifact id) is the current database.
 */
export function databaseArtifactNames(base: string): [string, string] {
  return [base, `${base}-b`];
}

export class StateError extends Error {
  constructor(
    readonly code: "DatabaseMissing" | "DatabaseRejected" | "DatabaseConflict",
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = code;
  }
}

export interface Candidates {
  newest: ArtifactRef | undefined;
  /** Unexpired artifacts of those names that were not considered, and why. */
  ignored: { artifact: ArtifactRef; reason: string }[];
}

/** The newest trusted, unexpired database artifact: never one uploaded by a fork's run. */
export async function findNewestDatabase(store: ArtifactStore, base: string): Promise<Candidates> {
  const ignored: Candidates["ignored"] = [];
  let newest: ArtifactRef | undefined;
  const seen = new Set<number>();
  for (const name of databaseArtifactNames(base)) {
    for (const a of await store.listByName(name)) {
      if (a.name !== name || seen.has(a.id)) continue;
      seen.add(a.id);
      if (a.expired) continue;
      if (a.fromFork) {
        ignored.push({
          artifact: a,
          reason: "uploaded by a run of a fork's pull request (or of unknown origin)",
        });
        continue;
      }
      if (!newest || a.id > newest.id) newest = a;
    }
  }
  return { newest, ignored };
}

/**
 * Checks an artifact's archive and writes its database to `dbPath`, or throws DatabaseRejected:
 * it must be a zip holding exactly `orchestrator.db`, within `maxBytes`, starting with the SQLite
 * header. Only then is it opened (read-only, schema untrusted) for SQLite's quick_check, its
 * schema version and its schema.
 */
export function installDatabase(
  zip: Buffer,
  dbPath: string,
  maxBytes: number,
  nativeBinding: string | undefined,
  label: string,
): void {
  if (zip.length > maxBytes) {
    throw new StateError(
      "DatabaseRejected",
      `${label} is ${zip.length} bytes, above max-db-size (${maxBytes})`,
    );
  }
  let data: Buffer;
  try {
    data = readSingleFile(zip, DB_FILE, maxBytes);
  } catch (error) {
    throw new StateError("DatabaseRejected", `${label} is refused: ${(error as Error).message}`);
  }
  if (data.length < 100 || !data.subarray(0, SQLITE_HEADER.length).equals(SQLITE_HEADER)) {
    throw new StateError(
      "DatabaseRejected",
      `${label} is refused: ${DB_FILE} is not a SQLite database`,
    );
  }
  rmSync(dbPath, { force: true });
  rmSync(`${dbPath}-wal`, { force: true });
  rmSync(`${dbPath}-shm`, { force: true });
  writeFileSync(dbPath, data, { mode: 0o600 });
  checkDatabase(dbPath, nativeBinding, label);
}

/** The schema objects (tables, indexes, triggers, views) the migrations up to `version` create. */
function expectedSchema(version: number, nativeBinding: string | undefined): Map<string, string> {
  const db = new Database(":memory:", nativeBinding ? { nativeBinding } : {});
  try {
    for (let v = 0; v < version; v++) db.exec(MIGRATIONS[v]!);
    return schemaOf(db);
  } finally {
    db.close();
  }
}

function schemaOf(db: Database.Database): Map<string, string> {
  const rows = db
    .prepare(
      "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
    )
    .all() as { type: string; name: string; tbl_name: string; sql: string | null }[];
  return new Map(rows.map((r) => [`${r.type} ${r.name}`, `${r.tbl_name}\n${r.sql ?? ""}`]));
}

/**
 * Opens the restored file read-only, with the schema untrusted, and refuses it unless SQLite's
 * quick_check passes, its schema version is one this orchestrator knows, and its tables, indexes,
 * triggers and views are exactly those the migrations create for that version (no extra trigger
 * or view can ride along into the commands that open it next).
 */
function checkDatabase(dbPath: string, nativeBinding: string | undefined, label: string): void {
  let db: Database.Database | undefined;
  try {
    db = new Database(dbPath, {
      readonly: true,
      fileMustExist: true,
      ...(nativeBinding ? { nativeBinding } : {}),
    });
    db.pragma("trusted_schema = OFF");
    const check = db.pragma("quick_check", { simple: true });
    if (check !== "ok") throw new Error(`integrity check: ${String(check)}`);
    const version = db.pragma("user_version", { simple: true }) as number;
    if (version < 1 || version > SCHEMA_VERSION) {
      throw new Error(`schema version ${version}; this orchestrator reads 1 to ${SCHEMA_VERSION}`);
    }
    const actual = schemaOf(db);
    if (!actual.has("table orchestrator_meta"))
      throw new Error("it is not an orchestrator database");
    const expected = expectedSchema(version, nativeBinding);
    const differ = [...new Set([...expected.keys(), ...actual.keys()])]
      .filter((k) => expected.get(k) !== actual.get(k))
      .sort();
    if (differ.length > 0) {
      throw new Error(
        `its schema is not the orchestrator's schema version ${version}: ${differ
          .slice(0, 5)
          .map(
            (k) =>
              `${k} ${expected.has(k) ? (actual.has(k) ? "differs" : "missing") : "unexpected"}`,
          )
          .join(", ")}${differ.length > 5 ? `, and ${differ.length - 5} more` : ""}`,
      );
    }
  } catch (error) {
    db?.close();
    db = undefined;
    rmSync(dbPath, { force: true });
    throw new StateError("DatabaseRejected", `${label} is refused: ${(error as Error).message}`);
  } finally {
    db?.close();
  }
}

export interface Restored {
  artifact: ArtifactRef | undefined;
  generation: number;
}

/** Restores the newest database artifact to `dbPath`; with `init`, starts fresh when there is none. */
export async function restoreDatabase(options: {
  store: ArtifactStore;
  base: string;
  dbPath: string;
  maxBytes: number;
  init: boolean;
  /** The artifact that must be the newest (input db-artifact-id), from a trusted earlier job. */
  expectedId?: number | undefined;
  nativeBinding: string | undefined;
  log: (line: string) => void;
}): Promise<Restored> {
  const { store, base, dbPath, maxBytes } = options;
  const { newest, ignored } = await findNewestDatabase(store, base);
  for (const i of ignored)
    options.log(`ignored artifact ${i.artifact.id} (${i.artifact.name}): ${i.reason}`);
  if (options.expectedId !== undefined && newest?.id !== options.expectedId) {
    throw new StateError(
      "DatabaseConflict",
      `the newest database artifact is ${newest ? `${newest.id} (${newest.name}, run ${newest.runId})` : "missing"}, not artifact ${options.expectedId} (db-artifact-id), the one this step was told to restore. Another job uploaded a database in between: a job of this run that should not (an agent job can upload artifacts to its run), or a workflow outside the \`orchestrator-db\` concurrency group; nothing was restored.${newest ? ` Unless you know where artifact ${newest.id} came from, delete it before the next run restores it as the newest` : ""}`,
      { expected_artifact_id: options.expectedId, newest_artifact_id: newest?.id ?? null },
    );
  }
  if (!newest) {
    if (options.init) {
      options.log(`no artifact named ${base}: starting a fresh database (init: true)`);
      return { artifact: undefined, generation: 0 };
    }
    const [a, b] = databaseArtifactNames(base);
    throw new StateError(
      "DatabaseMissing",
      `no unexpired database artifact named ${a} or ${b} in this repository. Create one with a step running \`command: init\` with \`init: true\`; if the database expired (retention-days), restore it from a backup the same way after \`tasks import\``,
      { artifact_names: [a, b] },
    );
  }
  if (newest.size > maxBytes) {
    throw new StateError(
      "DatabaseRejected",
      `artifact ${newest.id} (${newest.name}) is ${newest.size} bytes, above max-db-size (${maxBytes}); not downloaded`,
      { artifact_id: newest.id },
    );
  }
  const dir = mkdtempSync(join(tmpdir(), "orchestrator-download-"));
  try {
    options.log(
      `restoring artifact ${newest.id} (${newest.name}, run ${newest.runId}, ${newest.size} bytes)`,
    );
    let file: string;
    try {
      file = await store.download(newest, dir, maxBytes);
    } catch (error) {
      if (!(error instanceof SizeLimitError)) throw error;
      throw new StateError(
        "DatabaseRejected",
        `artifact ${newest.id} (${newest.name}) is refused: ${error.message} (max-db-size)`,
        { artifact_id: newest.id },
      );
    }
    if (statSync(file).size > maxBytes) {
      throw new StateError(
        "DatabaseRejected",
        `artifact ${newest.id} is bigger than max-db-size (${maxBytes})`,
      );
    }
    installDatabase(
      readFileSync(file),
      dbPath,
      maxBytes,
      options.nativeBinding,
      `artifact ${newest.id} (${newest.name})`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { artifact: newest, generation: readGeneration(dbPath, options.nativeBinding) };
}

export const META = {
  generation: "artifact.generation",
  restoredFrom: "artifact.restored_from",
  writtenBy: "artifact.written_by",
} as const;

export function readGeneration(dbPath: string, nativeBinding: string | undefined): number {
  const db = new Database(dbPath, { readonly: true, ...(nativeBinding ? { nativeBinding } : {}) });
  try {
    const value = db
      .prepare("SELECT value FROM orchestrator_meta WHERE key = ?")
      .pluck()
      .get(META.generation);
    return value === undefined ? 0 : Number(value);
  } finally {
    db.close();
  }
}

/** Folds the WAL into the database file, so the one file is the whole database. */
export function checkpoint(dbPath: string, nativeBinding: string | undefined): void {
  if (!existsSync(dbPath)) return;
  const db = new Database(dbPath, nativeBinding ? { nativeBinding } : {});
  try {
    db.pragma("wal_checkpoint(TRUNCATE)");
  } finally {
    db.close();
  }
}

/** The database's content hash after a checkpoint (undefined when there is no database). */
export function fingerprint(dbPath: string, nativeBinding: string | undefined): string | undefined {
  if (!existsSync(dbPath)) return undefined;
  checkpoint(dbPath, nativeBinding);
  return createHash("sha256").update(readFileSync(dbPath)).digest("hex");
}

export interface Writer {
  run_id: string;
  run_attempt: string;
  workflow: string;
  job: string;
  command: string;
}

/**
 * Records in the database the generation it is about to become and the artifact it came from,
 * then checkpoints the WAL (TRUNCATE) so the file alone is the database.
 */
export function stampGeneration(
  dbPath: string,
  restored: Restored,
  writer: Writer,
  nativeBinding: string | undefined,
  now = Date.now(),
): number {
  const db = openDatabase(dbPath, nativeBinding ? { nativeBinding } : {});
  try {
    const generation = writeTransaction(db, () => {
      const stored = db
        .prepare("SELECT value FROM orchestrator_meta WHERE key = ?")
        .pluck()
        .get(META.generation);
      const next = Math.max(restored.generation, stored === undefined ? 0 : Number(stored)) + 1;
      const put = db.prepare(
        "INSERT INTO orchestrator_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      );
      put.run(META.generation, String(next));
      put.run(
        META.restoredFrom,
        JSON.stringify(
          restored.artifact
            ? {
                artifact_id: restored.artifact.id,
                name: restored.artifact.name,
                run_id: restored.artifact.runId,
                generation: restored.generation,
              }
            : null,
        ),
      );
      put.run(META.writtenBy, JSON.stringify({ ...writer, at: new Date(now).toISOString() }));
      return next;
    });
    db.pragma("wal_checkpoint(TRUNCATE)");
    return generation;
  } finally {
    db.close();
  }
}

export interface Saved {
  artifact: { id: number; name: string };
  generation: number;
  replaced: string | undefined;
}

/**
 * Uploads the database as the next artifact, unless a newer one appeared since it was restored:
 * then it fails loudly (DatabaseConflict) and uploads nothing. After the upload it lists again and
 * fails if another writer's artifact landed between the check and the upload.
 */
export async function saveDatabase(options: {
  store: ArtifactStore;
  base: string;
  dbPath: string;
  restored: Restored;
  runId: number;
  retentionDays: number;
  writer: Writer;
  nativeBinding: string | undefined;
  log: (line: string) => void;
}): Promise<Saved> {
  const { store, base, restored } = options;
  const restoredId = restored.artifact?.id ?? 0;
  const before = await findNewestDatabase(store, base);
  if (before.newest && before.newest.id > restoredId) {
    throw conflict(before.newest, restored.artifact, "before the upload; nothing was uploaded");
  }
  const generation = stampGeneration(
    options.dbPath,
    restored,
    options.writer,
    options.nativeBinding,
  );

  // The name this run has not used yet, or the older of its two (its newest copy stays).
  const names = databaseArtifactNames(base);
  const mine = (await store.listRun(options.runId)).filter((a) => names.includes(a.name));
  let target = names.find((n) => !mine.some((a) => a.name === n));
  let replaced: string | undefined;
  if (!target) {
    const oldest = mine.reduce((a, b) => (a.id < b.id ? a : b));
    target = oldest.name;
    replaced = `${oldest.name} (artifact ${oldest.id})`;
    options.log(
      `this run already holds ${names.join(" and ")}: replacing the older, artifact ${oldest.id}`,
    );
    await store.deleteFromCurrentRun(target);
  }
  const uploaded = await store.upload(target, options.dbPath, options.retentionDays);
  options.log(`uploaded generation ${generation} as ${target} (artifact ${uploaded.id})`);

  const after = await findNewestDatabase(store, base);
  const raced = [...(await listAll(store, base))].filter(
    (a) => a.id > restoredId && a.id !== uploaded.id && !a.expired && !a.fromFork,
  );
  if ((after.newest && after.newest.id !== uploaded.id) || raced.length > 0) {
    const other = raced[0] ?? after.newest!;
    throw conflict(
      other,
      restored.artifact,
      `while uploading; generation ${generation} was uploaded as artifact ${uploaded.id} but another writer's artifact ${other.id} also derives from the same database: one of the two updates is not in the other, reconcile them`,
    );
  }
  return { artifact: { id: uploaded.id, name: target }, generation, replaced };
}

async function listAll(store: ArtifactStore, base: string): Promise<ArtifactRef[]> {
  const all: ArtifactRef[] = [];
  for (const name of databaseArtifactNames(base)) {
    all.push(...(await store.listByName(name)).filter((a) => a.name === name));
  }
  return all;
}

function conflict(newer: ArtifactRef, restored: ArtifactRef | undefined, when: string): StateError {
  return new StateError(
    "DatabaseConflict",
    `a newer database artifact appeared ${when}: artifact ${newer.id} (${newer.name}, run ${newer.runId}) is newer than ${restored ? `artifact ${restored.id}, which this step restored` : "the fresh database this step started"}. Two workflows wrote the database at once: give every workflow that writes it the same \`concurrency:\` group, then re-run this step`,
    {
      newer_artifact_id: newer.id,
      newer_run_id: newer.runId,
      restored_artifact_id: restored?.id ?? null,
    },
  );
}
