export {
  type Db,
  DEFAULT_BUSY_TIMEOUT_MS,
  migrate,
  type OpenOptions,
  openDatabase,
  schemaVersion,
  writeTransaction,
} from "./connection.js";
export {
  BUSY_TIMEOUT_ENV,
  DatabaseError,
  type DatabaseErrorContext,
  toDatabaseError,
} from "./errors.js";
export { MIGRATIONS, SCHEMA_VERSION } from "./migrations.js";
export { statement } from "./statements.js";
export * from "./stores/agents.js";
export * from "./stores/assignments.js";
export * from "./stores/events.js";
export * from "./stores/locks.js";
export * from "./stores/messages.js";
export * from "./stores/tasks.js";
export * from "./stores/worktrees.js";
