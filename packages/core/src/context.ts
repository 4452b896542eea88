import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import {
  AgentStore,
  AssignmentStore,
  BUSY_TIMEOUT_ENV,
  type Db,
  EventStore,
  LockStore,
  MessageStore,
  type NewEvent,
  openDatabase,
  TaskStore,
  WorktreeStore,
  writeTransaction,
} from "@orchestrator/db";
import { CONFIG_FILE_NAME, type Config, loadConfig } from "./config.js";
import { invalidInput } from "./errors.js";

export interface OrchestratorOptions {
  /** Database file; default ORCHESTRATOR_DB, then <repo>/.orchestrator/orchestrator.db. */
  db?: string;
  /** The git repository worked on; default: the one containing `cwd`. */
  repo?: string;
  /** Config file; default <repo>/orchestrator.config.yaml when present. */
  config?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** The clock, in ms since the epoch (tests move it). */
  now?: () => number;
  /** How long to wait for another process's database lock; default $ORCHESTRATOR_BUSY_TIMEOUT_MS, then 10 s. */
  busyTimeoutMs?: number;
  nativeBinding?: string;
}

/** The longest busy timeout accepted: one hour. */
const MAX_BUSY_TIMEOUT_MS = 3_600_000;

/**
 * The busy timeout a command runs with: the option, else ORCHESTRATOR_BUSY_TIMEOUT_MS (whole
 * milliseconds, 0 to one hour; anything else is InvalidInput), else undefined (the default).
 */
export function busyTimeoutFrom(options: OrchestratorOptions = {}): number | undefined {
  if (options.busyTimeoutMs !== undefined) return options.busyTimeoutMs;
  const raw = (options.env ?? process.env)[BUSY_TIMEOUT_ENV];
  if (raw === undefined || raw.trim() === "") return undefined;
  const ms = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
  if (!(ms <= MAX_BUSY_TIMEOUT_MS)) {
    throw invalidInput(
      `${BUSY_TIMEOUT_ENV}=${JSON.stringify(raw)} is not a whole number of milliseconds from 0 to ${MAX_BUSY_TIMEOUT_MS}; set it to e.g. 30000 (30 s), or unset it for the default (10000)`,
      { [BUSY_TIMEOUT_ENV]: raw },
    );
  }
  return ms;
}

export interface ResolvedPaths {
  repoRoot: string;
  dbPath: string;
  configPath: string;
  configExplicit: boolean;
}

/** The directory holding `.git` (a directory, or a file in a linked worktree) above `start`. */
export function findRepoRoot(start: string): string | undefined {
  let dir = resolve(start);
  for (;;) {
    if (existsSync(join(dir, ".git"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

export function resolvePaths(options: OrchestratorOptions = {}): ResolvedPaths {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  const repoRoot = options.repo ? resolve(cwd, options.repo) : (findRepoRoot(cwd) ?? resolve(cwd));
  const dbPath = options.db
    ? resolve(cwd, options.db)
    : env.ORCHESTRATOR_DB
      ? resolve(cwd, env.ORCHESTRATOR_DB)
      : join(repoRoot, ".orchestrator", "orchestrator.db");
  const configPath = options.config
    ? resolve(cwd, options.config)
    : join(repoRoot, CONFIG_FILE_NAME);
  return { repoRoot, dbPath, configPath, configExplicit: options.config !== undefined };
}

/**
 * One command's view of the orchestrator: the open database, its stores, the config and the
 * clock. Commands take this and nothing global.
 */
export class Orchestrator {
  readonly tasks: TaskStore;
  readonly assignments: AssignmentStore;
  readonly events: EventStore;
  readonly messages: MessageStore;
  readonly agents: AgentStore;
  readonly worktrees: WorktreeStore;
  readonly locks: LockStore;

  constructor(
    readonly db: Db,
    readonly config: Config,
    readonly paths: ResolvedPaths,
    readonly now: () => number = Date.now,
  ) {
    this.tasks = new TaskStore(db);
    this.assignments = new AssignmentStore(db);
    this.events = new EventStore(db);
    this.messages = new MessageStore(db);
    this.agents = new AgentStore(db);
    this.worktrees = new WorktreeStore(db);
    this.locks = new LockStore(db);
  }

  /** Runs fn in one BEGIN IMMEDIATE transaction. */
  write<T>(fn: () => T): T {
    return writeTransaction(this.db, fn);
  }

  record(event: NewEvent): void {
    this.events.record(event, this.now());
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

export function openOrchestrator(options: OrchestratorOptions = {}): Orchestrator {
  const paths = resolvePaths(options);
  const busyTimeoutMs = busyTimeoutFrom(options);
  const config = loadConfig(paths.configPath, paths.configExplicit);
  ignoreDefaultDatabaseDirectory(paths);
  const db = openDatabase(paths.dbPath, {
    ...(busyTimeoutMs !== undefined ? { busyTimeoutMs } : {}),
    ...(options.nativeBinding !== undefined ? { nativeBinding: options.nativeBinding } : {}),
  });
  return new Orchestrator(db, config, paths, options.now ?? Date.now);
}

/** The default database directory ignores itself, so the user's .gitignore is never touched. */
function ignoreDefaultDatabaseDirectory(paths: ResolvedPaths): void {
  const dir = join(paths.repoRoot, ".orchestrator");
  if (dirname(paths.dbPath) !== dir) return;
  const ignore = join(dir, ".gitignore");
  if (existsSync(ignore)) return;
  if (existsSync(dir) && !statSync(dir).isDirectory()) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(ignore, "*\n");
}
