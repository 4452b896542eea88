import { type FSWatcher, watch } from "node:fs";
import { basename, dirname } from "node:path";

/** How often a waiting poller looks at the database when file events work, and when not. */
export const FALLBACK_CHECK_MS = 1_000;
export const UNWATCHED_CHECK_MS = 100;

/**
 * Wakes a long poll when another process may have written the database: it watches the
 * database's directory (the `-wal` file changes on every commit in WAL mode; watching the
 * directory survives the WAL file being removed and created again). An event is only a hint:
 * the caller confirms with `PRAGMA data_version` before it takes the write lock.
 */
export class DatabaseWatcher {
  private watcher: FSWatcher | undefined;
  private dirty = false;
  private wake: (() => void) | undefined;

  constructor(file: string) {
    if (file === ":memory:" || file === "") return;
    const name = basename(file);
    try {
      this.watcher = watch(dirname(file), { persistent: true }, (_event, changed) => {
        if (changed !== null && !changed.startsWith(name)) return;
        this.dirty = true;
        this.wake?.();
      });
      this.watcher.on("error", () => this.stopWatching());
    } catch {
      this.watcher = undefined;
    }
  }

  /** Whether file events arrive; without them the caller checks more often. */
  get watching(): boolean {
    return this.watcher !== undefined;
  }

  /** The longest a caller should sleep before checking the database itself. */
  get checkEveryMs(): number {
    return this.watching ? FALLBACK_CHECK_MS : UNWATCHED_CHECK_MS;
  }

  /** Resolves at the next file event (or at once if one came since the last wait), or after ms. */
  wait(ms: number): Promise<void> {
    if (this.dirty) {
      this.dirty = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        this.dirty = false;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.wake = done;
    });
  }

  close(): void {
    this.stopWatching();
    this.wake?.();
  }

  private stopWatching(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }
}
