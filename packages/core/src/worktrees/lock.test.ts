import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { tempDir } from "../../../../test/helpers/tmp.js";
import { openOrchestrator } from "../context.js";
import { withLock } from "./lock.js";

describe("withLock", () => {
  it("reports the work's own error when releasing the lock fails too (the database locked meanwhile)", async () => {
    const dir = tempDir();
    const file = join(dir, "o.db");
    const o = openOrchestrator({ db: file, repo: dir, cwd: dir, busyTimeoutMs: 50 });
    const other = new Database(file);
    try {
      const work = withLock(o, "merge", async () => {
        other.exec("BEGIN EXCLUSIVE"); // another program takes the database's write lock
        throw new Error("git failed");
      });
      await expect(work).rejects.toThrow("git failed");
      // The lock row stays behind; another process takes it over once this one has exited.
      other.exec("ROLLBACK");
      expect(o.locks.get("merge")).toBeDefined();
    } finally {
      if (other.inTransaction) other.exec("ROLLBACK");
      other.close();
      o.close();
    }
  });

  it("releases the lock after work that succeeded or failed", async () => {
    const dir = tempDir();
    const o = openOrchestrator({ db: join(dir, "o.db"), repo: dir, cwd: dir });
    try {
      expect(await withLock(o, "merge", async () => 42)).toBe(42);
      expect(o.locks.get("merge")).toBeUndefined();
      await expect(
        withLock(o, "merge", async () => {
          throw new Error("git failed");
        }),
      ).rejects.toThrow("git failed");
      expect(o.locks.get("merge")).toBeUndefined();
    } finally {
      o.close();
    }
  });
});
