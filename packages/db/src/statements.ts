import type Database from "better-sqlite3";

const cache = new WeakMap<Database.Database, Map<string, Database.Statement>>();

/** A prepared statement, prepared once per connection. */
export function statement<P extends unknown[] | object = unknown[], R = unknown>(
  db: Database.Database,
  sql: string,
): Database.Statement<P, R> {
  let byConnection = cache.get(db);
  if (!byConnection) {
    byConnection = new Map();
    cache.set(db, byConnection);
  }
  let prepared = byConnection.get(sql);
  if (!prepared) {
    prepared = db.prepare(sql);
    byConnection.set(sql, prepared);
  }
  return prepared as unknown as Database.Statement<P, R>;
}
