import type { Db } from "../connection.js";
import { statement } from "../statements.js";

/**
 * Named leases kept as rows of orchestrator_meta (`lock:<name>`), so that processes which
 * share nothing but the database can take turns at a slow outside operation (a git merge)
 * without holding a SQLite write transaction across it. The holder's description is opaque
 * here; core decides when a holder is gone.
 */
export class LockStore {
  constructor(private readonly db: Db) {}

  get(name: string): string | undefined {
    return statement<[string], { value: string }>(
      this.db,
      "SELECT value FROM orchestrator_meta WHERE key = ?",
    ).get(`lock:${name}`)?.value;
  }

  put(name: string, holder: string): void {
    statement(
      this.db,
      `INSERT INTO orchestrator_meta (key, value) VALUES (?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
    ).run(`lock:${name}`, holder);
  }

  /** Releases the lock only if `holder` still holds it. */
  release(name: string, holder: string): boolean {
    return (
      statement(this.db, "DELETE FROM orchestrator_meta WHERE key = ? AND value = ?").run(
        `lock:${name}`,
        holder,
      ).changes === 1
    );
  }
}
