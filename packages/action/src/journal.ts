import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { runCli } from "@orchestrator/cli";
import { openDatabase, writeTransaction } from "@orchestrator/db";
import Database from "better-sqlite3";
import type { ArtifactRef, ArtifactStore } from "./artifacts.js";
import { withoutRunnerSecrets } from "./redact.js";
import { readSingleFile } from "./zip.js";

/**
 * Matrix jobs never write the database: each records the commands it wants applied in a small
 * SQLite journal and uploads it as an artifact of the run; a collecting step applies every
 * journal of the run to the database, each entry once.
 */
export const JOURNAL_FILE = "journal.db";
export const JOURNAL_MAX_BYTES = 8 * 1024 * 1024;

/**
 * Commands a journal may carry: idempotent ones, whose second application changes nothing, so a
 * collect step that is re-run (or a journal uploaded twice) is harmless. `assign`, `init` and
 * imports belong to the main database's own steps. Commands of the coming issues are listed now.
 */
export const JOURNAL_COMMANDS = [
  "tasks complete",
  "tasks fail",
  "route send",
  "route acknowledge",
  "agents heartbeat",
] as const;

/** Options a journal entry may never carry: they would point the command elsewhere. */
const FORBIDDEN_OPTION = /^--(db|repo|config|json)(=|$)/;

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS journal_meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) STRICT;
  CREATE TABLE IF NOT EXISTS journal_entry (
    seq         INTEGER PRIMARY KEY,
    recorded_at INTEGER NOT NULL,
    argv        TEXT NOT NULL
  ) STRICT;
`;

export interface JournalEntry {
  journal_id: string;
  seq: number;
  recorded_at: number;
  argv: string[];
}

/** Throws unless argv is a journal-able command without options that redirect it. */
export function checkJournalArgv(argv: unknown): string[] {
  if (!Array.isArray(argv) || argv.length < 1 || !argv.every((a) => typeof a === "string")) {
    throw new Error("a journal entry must be a command line (an array of strings)");
  }
  const [first, second] = argv as string[];
  const path = second === undefined || second.startsWith("-") ? first! : `${first} ${second}`;
  if (!(JOURNAL_COMMANDS as readonly string[]).includes(path)) {
    throw new Error(
      `\`${path}\` cannot be journaled; journal-able commands: ${JOURNAL_COMMANDS.join(", ")}`,
    );
  }
  const end = argv.indexOf("--");
  const options = end === -1 ? argv : argv.slice(0, end);
  const bad = options.find((a) => FORBIDDEN_OPTION.test(a));
  if (bad) throw new Error(`a journal entry may not carry ${bad.split("=")[0]}`);
  return argv as string[];
}

function open(
  file: string,
  nativeBinding: string | undefined,
  readonly = false,
): Database.Database {
  return new Database(file, {
    ...(readonly ? { readonly: true, fileMustExist: true } : {}),
    ...(nativeBinding ? { nativeBinding } : {}),
  });
}

/** Appends one command to this job's journal (created on first use); returns its entry. */
export function appendToJournal(
  file: string,
  argv: string[],
  context: Record<string, string>,
  nativeBinding: string | undefined,
  now = Date.now(),
): JournalEntry {
  checkJournalArgv(argv);
  mkdirSync(dirname(file), { recursive: true });
  const db = open(file, nativeBinding);
  try {
    db.exec(SCHEMA);
    return db
      .transaction(() => {
        const put = db.prepare("INSERT OR IGNORE INTO journal_meta (key, value) VALUES (?, ?)");
        put.run("journal_id", randomUUID());
        for (const [k, v] of Object.entries(context)) put.run(k, v);
        const journalId = db
          .prepare("SELECT value FROM journal_meta WHERE key = 'journal_id'")
          .pluck()
          .get() as string;
        const seq = Number(
          db
            .prepare("INSERT INTO journal_entry (recorded_at, argv) VALUES (?, ?)")
            .run(now, JSON.stringify(argv)).lastInsertRowid,
        );
        return { journal_id: journalId, seq, recorded_at: now, argv };
      })
      .immediate();
  } finally {
    db.close();
  }
}

/** Reads a journal file; throws when it is not one. */
export function readJournal(file: string, nativeBinding: string | undefined): JournalEntry[] {
  const db = open(file, nativeBinding, true);
  try {
    // A journal comes from a job that ran agent code: its schema (views, triggers) is not trusted.
    db.pragma("trusted_schema = OFF");
    if (db.pragma("quick_check", { simple: true }) !== "ok")
      throw new Error("the journal fails SQLite's integrity check");
    const journalId = db
      .prepare("SELECT value FROM journal_meta WHERE key = 'journal_id'")
      .pluck()
      .get();
    if (typeof journalId !== "string" || !/^[0-9a-f-]{36}$/.test(journalId))
      throw new Error("the journal has no valid id");
    const rows = db
      .prepare("SELECT seq, recorded_at, argv FROM journal_entry ORDER BY seq")
      .all() as {
      seq: number;
      recorded_at: number;
      argv: string;
    }[];
    return rows.map((r) => ({
      journal_id: journalId,
      seq: r.seq,
      recorded_at: r.recorded_at,
      argv: JSON.parse(r.argv),
    }));
  } finally {
    db.close();
  }
}

/** A journal artifact's name: unique in the run (artifact names are), found by its prefix. */
export function journalArtifactName(base: string, key: string, entry: JournalEntry): string {
  const safeKey = key.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 64) || "job";
  return `${journalPrefix(base)}${safeKey}-${entry.journal_id.slice(0, 8)}-${entry.seq}`;
}

export function journalPrefix(base: string): string {
  return `${base}-journal-`;
}

export interface AppliedEntry {
  key: string;
  argv: string[];
  ok: boolean;
  code?: string;
  message?: string;
  artifact_id: number;
}

export interface CollectResult {
  run_id: number;
  journals: number;
  entries: number;
  applied: number;
  already_applied: number;
  failed: number;
  results: AppliedEntry[];
  rejected_journals: { artifact_id: number; name: string; reason: string }[];
}

const APPLIED_KEY = (e: JournalEntry) => `journal:${e.journal_id}:${e.seq}`;

/**
 * Downloads every journal of the run, checks each (zip with exactly journal.db, SQLite, entries
 * of journal-able commands only), and applies the entries not applied before, oldest first,
 * recording each application in `orchestrator_meta` so no entry is ever applied twice.
 */
export async function collectJournals(options: {
  store: ArtifactStore;
  base: string;
  runId: number;
  dbPath: string;
  cwd: string;
  nativeBinding: string | undefined;
  log: (line: string) => void;
}): Promise<CollectResult> {
  const { store, base } = options;
  const artifacts = (await store.listRun(options.runId)).filter(
    (a) => a.name.startsWith(journalPrefix(base)) && !a.expired,
  );
  const result: CollectResult = {
    run_id: options.runId,
    journals: artifacts.length,
    entries: 0,
    applied: 0,
    already_applied: 0,
    failed: 0,
    results: [],
    rejected_journals: [],
  };
  const entries = new Map<string, { entry: JournalEntry; artifact: ArtifactRef }>();
  const work = mkdtempSync(join(tmpdir(), "orchestrator-journals-"));
  try {
    for (const artifact of artifacts.sort((a, b) => a.id - b.id)) {
      try {
        if (artifact.fromFork)
          throw new Error("uploaded by a run of a fork's pull request (or of unknown origin)");
        if (artifact.size > JOURNAL_MAX_BYTES)
          throw new Error(`${artifact.size} bytes, above ${JOURNAL_MAX_BYTES}`);
        const dir = join(work, String(artifact.id));
        mkdirSync(dir);
        const zip = readFileSync(await store.download(artifact, dir, JOURNAL_MAX_BYTES));
        const data = readSingleFile(zip, JOURNAL_FILE, JOURNAL_MAX_BYTES);
        if (data.subarray(0, 16).toString("latin1") !== "SQLite format 3\0")
          throw new Error("not a SQLite file");
        const file = join(dir, JOURNAL_FILE);
        writeFileSync(file, data);
        for (const entry of readJournal(file, options.nativeBinding)) {
          checkJournalArgv(entry.argv);
          entries.set(APPLIED_KEY(entry), { entry, artifact });
        }
      } catch (error) {
        options.log(
          `journal artifact ${artifact.id} (${artifact.name}) refused: ${(error as Error).message}`,
        );
        result.rejected_journals.push({
          artifact_id: artifact.id,
          name: artifact.name,
          reason: (error as Error).message,
        });
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const ordered = [...entries.values()].sort(
    (a, b) =>
      a.entry.recorded_at - b.entry.recorded_at ||
      (a.entry.journal_id < b.entry.journal_id
        ? -1
        : a.entry.journal_id > b.entry.journal_id
          ? 1
          : 0) ||
      a.entry.seq - b.entry.seq,
  );
  result.entries = ordered.length;
  if (ordered.length === 0) return result;

  const db = openDatabase(
    options.dbPath,
    options.nativeBinding ? { nativeBinding: options.nativeBinding } : {},
  );
  try {
    const seen = db.prepare("SELECT 1 FROM orchestrator_meta WHERE key = ?").pluck();
    const mark = db.prepare("INSERT OR IGNORE INTO orchestrator_meta (key, value) VALUES (?, ?)");
    for (const { entry, artifact } of ordered) {
      const key = APPLIED_KEY(entry);
      if (seen.get(key)) {
        result.already_applied++;
        continue;
      }
      const run = await withoutRunnerSecrets(() =>
        runCli(
          [
            ...entry.argv.slice(0, indexOrEnd(entry.argv)),
            `--db=${options.dbPath}`,
            "--json",
            ...entry.argv.slice(indexOrEnd(entry.argv)),
          ],
          {
            cwd: options.cwd,
            ...(options.nativeBinding ? { nativeBinding: options.nativeBinding } : {}),
          },
        ),
      );
      const doc = run.document as
        | { ok?: boolean; error?: { code: string; message: string } }
        | undefined;
      const applied: AppliedEntry = {
        key,
        argv: entry.argv,
        ok: run.exitCode === 0 && doc?.ok === true,
        artifact_id: artifact.id,
      };
      if (!applied.ok) {
        applied.code = doc?.error?.code ?? "InternalError";
        applied.message = doc?.error?.message ?? `exit ${run.exitCode}`;
        result.failed++;
      } else {
        result.applied++;
      }
      result.results.push(applied);
      writeTransaction(db, () =>
        mark.run(
          key,
          JSON.stringify({
            ok: applied.ok,
            code: applied.code ?? null,
            artifact_id: artifact.id,
            at: new Date().toISOString(),
          }),
        ),
      );
    }
  } finally {
    db.close();
  }
  return result;
}

function indexOrEnd(argv: string[]): number {
  const i = argv.indexOf("--");
  return i === -1 ? argv.length : i;
}
