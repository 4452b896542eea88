import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Orchestrator } from "../context.js";
import { OrchestratorError } from "../errors.js";

export interface Holder {
  token: string;
  pid: number;
  host: string;
  acquired_at: number;
  expires_at: number;
}

export interface LockOptions {
  /** How long to wait for another holder before giving up, in ms. */
  waitMs?: number;
  /** How long a holder that cannot be checked (another host) is trusted, in ms. */
  leaseMs?: number;
}

const DEFAULT_WAIT_MS = 5 * 60_000;
const DEFAULT_LEASE_MS = 30 * 60_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A holder is gone when its lease ended, or when it ran on this host and its process is dead. */
function isGone(holder: Holder, now: number): boolean {
  if (now > holder.expires_at) return true;
  return holder.host === hostname() && !alive(holder.pid);
}

function parse(value: string | undefined): Holder | undefined {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value) as Holder;
  } catch {
    return undefined;
  }
}

/** Takes the named lock if it is free (or its holder is gone); returns the value written. */
function tryTake(o: Orchestrator, name: string, leaseMs: number): string | Holder {
  return o.write(() => {
    const now = Date.now();
    const current = parse(o.locks.get(name));
    if (current && !isGone(current, now)) return current;
    const value = JSON.stringify({
      token: randomUUID(),
      pid: process.pid,
      host: hostname(),
      acquired_at: now,
      expires_at: now + leaseMs,
    } satisfies Holder);
    o.locks.put(name, value);
    return value;
  });
}

/**
 * Runs fn while holding a lock shared by every orchestrator process using this database: a
 * lease row in SQLite (never a transaction held open across git). A holder killed mid-way is
 * detected through its pid (same host) or its lease (any host), so a crash never wedges it.
 */
export async function withLock<T>(
  o: Orchestrator,
  name: string,
  fn: () => Promise<T>,
  options: LockOptions = {},
): Promise<T> {
  const deadline = Date.now() + (options.waitMs ?? DEFAULT_WAIT_MS);
  let delay = 5;
  for (;;) {
    const taken = tryTake(o, name, options.leaseMs ?? DEFAULT_LEASE_MS);
    if (typeof taken === "string") return runHolding(o, name, taken, fn);
    if (Date.now() > deadline) {
      throw new OrchestratorError(
        "GitError",
        `another orchestrator process (pid ${taken.pid} on ${taken.host}) has held the ${name} lock since ${new Date(taken.acquired_at).toISOString()}; retry when it has finished`,
        { lock: name, holder_pid: taken.pid, holder_host: taken.host },
      );
    }
    await new Promise((r) => setTimeout(r, delay + Math.random() * delay));
    delay = Math.min(delay * 2, 100);
  }
}

/** Runs fn only if the lock is free right now; otherwise returns undefined without waiting. */
export async function ifUnlocked<T>(
  o: Orchestrator,
  name: string,
  fn: () => Promise<T>,
): Promise<T | undefined> {
  const taken = tryTake(o, name, DEFAULT_LEASE_MS);
  if (typeof taken !== "string") return undefined;
  return runHolding(o, name, taken, fn);
}

/**
 * Runs fn, then releases the lock. When fn failed and the release fails too (the database
 * locked or full meanwhile), fn's error is the one reported: it says what went wrong; the
 * lock row left behind is taken over once this process has exited.
 */
async function runHolding<T>(
  o: Orchestrator,
  name: string,
  taken: string,
  fn: () => Promise<T>,
): Promise<T> {
  let result: T;
  try {
    result = await fn();
  } catch (error) {
    try {
      o.write(() => o.locks.release(name, taken));
    } catch {
      // fn's error says more than the release's.
    }
    throw error;
  }
  o.write(() => o.locks.release(name, taken));
  return result;
}

export interface HeldLock {
  /** Pushes the lease's end forward; false if the lock was taken over meanwhile. */
  renew(): boolean;
  release(): void;
}

/**
 * Takes a lock for as long as a process runs (a whole `orchestrator run`): now or not at all.
 * The holder renews the lease while it works; once it dies (pid gone on this host, or the
 * lease ended) the next taker gets the lock. Returns the current holder when it is alive.
 */
export function holdLock(
  o: Orchestrator,
  name: string,
  leaseMs: number,
): { held: HeldLock } | { holder: Holder } {
  const taken = tryTake(o, name, leaseMs);
  if (typeof taken !== "string") return { holder: taken };
  let value = taken;
  return {
    held: {
      renew: () =>
        o.write(() => {
          if (o.locks.get(name) !== value) return false;
          const holder = JSON.parse(value) as Holder;
          value = JSON.stringify({ ...holder, expires_at: Date.now() + leaseMs });
          o.locks.put(name, value);
          return true;
        }),
      release: () => o.write(() => o.locks.release(name, value)),
    },
  };
}
