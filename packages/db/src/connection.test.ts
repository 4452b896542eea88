import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { tempDir } from "../../../test/helpers/tmp.js";
import { openDatabase, schemaVersion } from "./connection.js";
import { DatabaseError } from "./errors.js";
import { SCHEMA_VERSION } from "./migrations.js";

describe("openDatabase", () => {
  it("creates the file with its directory, applies every migration and sets the connection pragmas", () => {
    const file = join(tempDir(), "nested", "dir", "orchestrator.db");
    const db = openDatabase(file);
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.pragma("foreign_keys", { simple: true })).toBe(1);
    expect(db.pragma("temp_store", { simple: true })).toBe(2);
    expect(db.pragma("busy_timeout", { simple: true })).toBe(10_000);
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .pluck()
      .all();
    expect(tables).toEqual(
      expect.arrayContaining([
        "agent_lifecycle",
        "agent_message",
        "agent_restart_log",
        "git_worktree_tracker",
        "orchestrator_event",
        "orchestrator_task",
        "specs_task",
        "specs_task_dependency",
      ]),
    );
    db.close();
  });

  it("indexes every foreign key's child column with a whole index (no scans on parent writes)", () => {
    const db = openDatabase(join(tempDir(), "o.db"));
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
      .pluck()
      .all() as string[];
    const missing: string[] = [];
    let foreignKeys = 0;
    for (const table of tables) {
      const keys = db.pragma(`foreign_key_list(${table})`) as { from: string }[];
      const leading = new Set<string>();
      const indexes = db.pragma(`index_list(${table})`) as { name: string; partial: number }[];
      for (const index of indexes.filter((i) => i.partial === 0)) {
        const columns = db.pragma(`index_info(${index.name})`) as { seqno: number; name: string }[];
        leading.add(columns.find((c) => c.seqno === 0)!.name);
      }
      for (const key of keys) {
        foreignKeys++;
        if (!leading.has(key.from)) missing.push(`${table}.${key.from}`);
      }
    }
    expect(foreignKeys).toBeGreaterThanOrEqual(5);
    expect(missing).toEqual([]);
    db.close();
  });

  it("opens an existing database again without re-running migrations", () => {
    const file = join(tempDir(), "o.db");
    openDatabase(file).close();
    const db = openDatabase(file);
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    db.close();
  });

  it("refuses a file that is not SQLite and leaves it byte for byte untouched", () => {
    const file = join(tempDir(), "o.db");
    const content = "this is not a database, it is a note\n".repeat(20);
    writeFileSync(file, content);
    expect(() => openDatabase(file)).toThrow(DatabaseError);
    expect(() => openDatabase(file)).toThrow(/is not a SQLite database/);
    expect(readFileSync(file, "utf8")).toBe(content);
  });

  it("refuses a database from a newer schema version and leaves it untouched", () => {
    const file = join(tempDir(), "o.db");
    const raw = new Database(file);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 5}`);
    raw.close();
    const before = readFileSync(file);
    const error = (() => {
      try {
        openDatabase(file);
      } catch (e) {
        return e as DatabaseError;
      }
    })();
    expect(error).toBeInstanceOf(DatabaseError);
    expect(error?.message).toMatch(/newer than this orchestrator understands/);
    expect(error?.details).toMatchObject({
      version: SCHEMA_VERSION + 5,
      supported: SCHEMA_VERSION,
    });
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  it("refuses a directory given as the database path", () => {
    const dir = tempDir();
    expect(() => openDatabase(dir)).toThrow(/is a directory/);
  });
});
