import { spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { CLI, type CliResult, cli, cliAsync } from "./helpers/cli.js";
import { demoRepo } from "./helpers/demo.js";
import { git } from "./helpers/git.js";
import { commitIn, type Project, project, taskStatus } from "./helpers/project.js";
import { tempDir } from "./helpers/tmp.js";

/**
 * Resource faults: a full disk, a read-only or locked database, stale git lock files, and
 * worktrees, branches or checkouts changed by hand. Each ends in a clear typed error or an
 * automatic repair, and a refusal changes nothing (database rows, git refs, worktrees).
 */

const BRANCH = (id: string) => `roadmap-implementation_task-${id}`;
const BETTER_SQLITE3 = createRequire(import.meta.url).resolve("better-sqlite3");

function parse(stdout: string): unknown {
  try {
    return JSON.parse(stdout);
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// What the environment allows

/** Whether `unshare -rm` (a user and mount namespace) can mount a tmpfs here. */
function tmpfsAvailable(): boolean {
  const dir = tempDir("orch-probe-");
  const r = spawnSync(
    "unshare",
    ["-rm", "sh", "-c", 'mount -t tmpfs -o size=64k tmpfs "$0"', dir],
    {
      encoding: "utf8",
    },
  );
  return r.status === 0;
}
const TMPFS = tmpfsAvailable();

/**
 * The argv prefix that runs a command without the power to ignore file permissions: nothing for
 * an ordinary user; for root, setpriv dropping every capability (root keeps its uid, so it can
 * still reach its own temp dirs, but a chmod 0444 file is read-only to it). Undefined when
 * root cannot drop them.
 */
function unprivilegedPrefix(): string[] | undefined {
  if (process.getuid?.() !== 0) return [];
  const prefix = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--ambient-caps=-all"];
  const dir = tempDir("orch-probe-");
  const file = join(dir, "ro");
  writeFileSync(file, "");
  chmodSync(file, 0o444);
  const r = spawnSync(prefix[0]!, [...prefix.slice(1), "sh", "-c", 'echo x > "$0"', file]);
  return r.status !== 0 && readFileSync(file, "utf8") === "" ? prefix : undefined;
}
const UNPRIVILEGED = unprivilegedPrefix();

// ---------------------------------------------------------------------------------------------
// Helpers

/** Every row of every table of a database file, opened read-only. */
function rows(file: string): Record<string, unknown[]> {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .pluck()
      .all() as string[];
    return Object.fromEntries(tables.map((t) => [t, db.prepare(`SELECT * FROM "${t}"`).all()]));
  } finally {
    db.close();
  }
}

function taskIds(file: string): string[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare("SELECT task_id FROM specs_task ORDER BY task_id").pluck().all() as string[];
  } finally {
    db.close();
  }
}

function integrity(file: string): string {
  const db = new Database(file);
  try {
    return db.pragma("integrity_check", { simple: true }) as string;
  } finally {
    db.close();
  }
}

/** A database file with tasks a and b, made by the CLI. */
function seededDatabase(dir = tempDir("orch-res-")): string {
  const db = join(dir, "o.db");
  for (const id of ["a", "b"]) {
    const r = cli(["--db", db, "--json", "tasks", "add", id, "--title", `task ${id}`], {
      cwd: dir,
    });
    expect(r.status, r.stdout + r.stderr).toBe(0);
  }
  return db;
}

/** Runs the built CLI under an argv prefix (e.g. setpriv), synchronously. */
function cliAs(prefix: readonly string[], args: readonly string[], cwd: string): CliResult {
  const argv = [...prefix, process.execPath, CLI, ...args];
  const r = spawnSync(argv[0]!, argv.slice(1), {
    cwd,
    env: { ...process.env, NO_COLOR: "1" },
    encoding: "utf8",
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json: parse(r.stdout) };
}

function sqliteFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.startsWith("o.db"))
    .sort();
}

/** Creates the task's worktree and commits one file in it; returns the worktree and the tip. */
function workOn(p: Project, id: string, file = `${id}.txt`): { path: string; tip: string } {
  const r = p.run("worktrees", "create", "--task-id", id);
  expect(r.status, r.stdout).toBe(0);
  const path = r.json.result.worktree_path as string;
  return { path, tip: commitIn(path, file, `${id}\n`, `work on ${id}`) };
}

/** Everything a refused command must leave alone: refs, worktrees, rows. */
function state(p: Project) {
  return {
    refs: git(p.repo, "for-each-ref", "--format=%(refname) %(objectname)"),
    worktrees: git(p.repo, "worktree", "list", "--porcelain"),
    rows: rows(p.db),
  };
}

// ---------------------------------------------------------------------------------------------
// 1. Disk full

/**
 * Runs `script` (bash) in a new user and mount namespace where $MNT is a 1 MiB tmpfs (visible
 * only inside), with $NODE, $CLI and $OUT (a directory outside the tmpfs) set.
 */
function inTmpfs(script: string, env: Record<string, string>): { out: string; log: string } {
  const base = tempDir("orch-full-");
  const mnt = join(base, "mnt");
  const out = join(base, "out");
  mkdirSync(mnt);
  mkdirSync(out);
  const r = spawnSync(
    "unshare",
    ["-rm", "bash", "-euc", `mount -t tmpfs -o size=1m tmpfs "$MNT"\n${script}`],
    {
      env: {
        ...process.env,
        NO_COLOR: "1",
        MNT: mnt,
        NODE: process.execPath,
        CLI,
        OUT: out,
        ...env,
      },
      encoding: "utf8",
    },
  );
  expect(r.status, r.stderr).toBe(0);
  return { out, log: r.stderr };
}

const readJson = (file: string) => JSON.parse(readFileSync(file, "utf8"));

describe.skipIf(!TMPFS)("disk full (a tmpfs in a user namespace)", () => {
  it("a write on a completely full disk fails with DatabaseError saying so; the database stays intact and works once space is freed", () => {
    const db = seededDatabase();
    const { out } = inTmpfs(
      `cp "$SRC" "$MNT/o.db"
dd if=/dev/zero of="$MNT/fill" bs=4k 2>/dev/null || true
"$NODE" "$CLI" --db "$MNT/o.db" --json tasks add c --title "task c" > "$OUT/full.json" || echo $? > "$OUT/full.status"
mkdir "$OUT/after-full" && cp "$MNT"/o.db* "$OUT/after-full/"
rm "$MNT/fill"
"$NODE" "$CLI" --db "$MNT/o.db" --json tasks add c --title "task c" > "$OUT/freed.json"
"$NODE" "$CLI" --db "$MNT/o.db" --json tasks list > /dev/null
mkdir "$OUT/after-freed" && cp "$MNT"/o.db* "$OUT/after-freed/"`,
      { SRC: db },
    );
    expect(readFileSync(join(out, "full.status"), "utf8").trim()).toBe("10");
    const full = readJson(join(out, "full.json"));
    expect(full.ok).toBe(false);
    expect(full.error.code).toBe("DatabaseError");
    expect(full.error.message).toContain("/mnt/o.db");
    expect(full.error.message).toMatch(/the disk is full \(0 bytes free in .*mnt\)/);
    expect(full.error.message).toMatch(/free space there and retry/);
    expect(full.error.details).toMatchObject({ free_bytes: 0 });

    const afterFull = join(out, "after-full", "o.db");
    expect(integrity(afterFull)).toBe("ok");
    expect(taskIds(afterFull)).toEqual(["a", "b"]);

    expect(readJson(join(out, "freed.json")).ok).toBe(true);
    const afterFreed = join(out, "after-freed", "o.db");
    expect(integrity(afterFreed)).toBe("ok");
    expect(taskIds(afterFreed)).toEqual(["a", "b", "c"]);
  });

  it("a large import that fills the disk midway is SQLITE_FULL: nothing of it is written", () => {
    const db = seededDatabase();
    const before = rows(db);
    const plan = join(tempDir(), "plan.json");
    const title = "x".repeat(2000);
    writeFileSync(
      plan,
      JSON.stringify({ tasks: Array.from({ length: 600 }, (_, i) => ({ id: `t${i}`, title })) }),
    );
    // 64 KiB left free: room for the -shm, not for 1.2 MB of tasks in the WAL.
    const { out } = inTmpfs(
      `cp "$SRC" "$MNT/o.db"
dd if=/dev/zero of="$MNT/spare" bs=1k count=64 2>/dev/null
dd if=/dev/zero of="$MNT/fill" bs=4k 2>/dev/null || true
rm "$MNT/spare"
"$NODE" "$CLI" --db "$MNT/o.db" --json tasks import "$PLAN" > "$OUT/import.json" || echo $? > "$OUT/import.status"
mkdir "$OUT/after" && cp "$MNT"/o.db* "$OUT/after/"`,
      { SRC: db, PLAN: plan },
    );
    expect(readFileSync(join(out, "import.status"), "utf8").trim()).toBe("10");
    const r = readJson(join(out, "import.json"));
    expect(r.error.code).toBe("DatabaseError");
    expect(r.error.details.sqlite_code).toBe("SQLITE_FULL");
    expect(r.error.message).toMatch(/o\.db: the disk is full .*free space there and retry/);
    const after = join(out, "after", "o.db");
    expect(integrity(after)).toBe("ok");
    expect(rows(after)).toEqual(before);
  });

  it("worktrees create with the database on a full disk: DatabaseError, and no branch, worktree or row is made", () => {
    const p = project(["a"]);
    const before = state(p);
    const { out } = inTmpfs(
      `cp "$SRC" "$MNT/o.db"
dd if=/dev/zero of="$MNT/fill" bs=4k 2>/dev/null || true
cd "$REPO"
"$NODE" "$CLI" --db "$MNT/o.db" --repo "$REPO" --json worktrees create --task-id a > "$OUT/create.json" || echo $? > "$OUT/create.status"
mkdir "$OUT/after" && cp "$MNT"/o.db* "$OUT/after/"`,
      { SRC: p.db, REPO: p.repo },
    );
    expect(readFileSync(join(out, "create.status"), "utf8").trim()).toBe("10");
    expect(readJson(join(out, "create.json")).error.message).toMatch(/the disk is full/);
    expect(integrity(join(out, "after", "o.db"))).toBe("ok");
    expect(rows(join(out, "after", "o.db"))).toEqual(before.rows);
    expect(state(p)).toEqual(before);
    expect(existsSync(join(p.base, "worktrees", "task-a"))).toBe(false);
  });
});

describe.skipIf(!TMPFS)("disk full under the worktrees (a tmpfs in a user namespace)", () => {
  it("worktrees create on a full disk: GitError saying so, and the half-made worktree and its branch are undone", () => {
    const p = project(["a"]);
    // Enough files that checking them out cannot fit in what is left.
    for (let i = 0; i < 40; i++) writeFileSync(join(p.repo, `f${i}.txt`), `${i}`.repeat(20_000));
    git(p.repo, "add", "-A");
    git(p.repo, "commit", "-q", "-m", "files");
    const root = join(tempDir("orch-full-"), "mnt");
    mkdirSync(root);
    writeFileSync(join(p.repo, "orchestrator.config.yaml"), `worktree_root: ${root}\n`);
    git(p.repo, "branch", "roadmap", "main"); // the integration branch exists already
    const before = state(p);
    const { out } = inTmpfs(
      `mount -t tmpfs -o size=512k tmpfs "$ROOT"
dd if=/dev/zero of="$ROOT/fill" bs=4k count=100 2>/dev/null
cd "$REPO"
"$NODE" "$CLI" --repo "$REPO" --json worktrees create --task-id a > "$OUT/create.json" || echo $? > "$OUT/create.status"
ls -A "$ROOT" > "$OUT/root.txt"`,
      { ROOT: root, REPO: p.repo },
    );
    expect(readFileSync(join(out, "create.status"), "utf8").trim()).toBe("9");
    const r = readJson(join(out, "create.json"));
    expect(r.error.code).toBe("GitError");
    expect(r.error.message).toMatch(
      new RegExp(
        `cannot create the worktree ${root}/task-a for task a: the disk holding ${root} is full \\(\\d+ bytes free\\); the half-made worktree was removed`,
      ),
    );
    expect(readFileSync(join(out, "root.txt"), "utf8").trim()).toBe("fill");
    const after = state(p);
    expect(after.refs).toBe(before.refs);
    expect(after.worktrees).toBe(before.worktrees);
    const rowsAfter = after.rows.git_worktree_tracker as { task_id: string; status: string }[];
    expect(rowsAfter.map((w) => [w.task_id, w.status])).toEqual([["a", "abandoned"]]);
  });
});

// ---------------------------------------------------------------------------------------------
// 2. A read-only database

describe.skipIf(UNPRIVILEGED === undefined)("a read-only database", () => {
  const restore: (() => void)[] = [];
  afterEach(() => {
    for (const fn of restore.splice(0)) fn();
  });

  it("a chmod 0444 file: writing commands fail naming the file and the fix, and nothing is created beside it", () => {
    const db = seededDatabase();
    const dir = join(db, "..");
    const before = rows(db);
    const files = sqliteFiles(dir);
    chmodSync(db, 0o444);
    restore.push(() => chmodSync(db, 0o644));
    for (const args of [["tasks", "add", "c", "--title", "task c"], ["assign"]]) {
      const r = cliAs(UNPRIVILEGED!, ["--db", db, "--json", ...args], dir);
      expect(r.status, r.stdout + r.stderr).toBe(10);
      expect(r.json.error.code).toBe("DatabaseError");
      expect(r.json.error.message).toBe(
        `database ${db} is read-only: this user may not write it; make it writable (e.g. \`chmod u+w ${db}\`) and retry. Nothing was changed`,
      );
      expect(r.json.error.details).toEqual({ file: db, path: db });
    }
    // No read-only -wal or -shm was left behind to fail the next command once the file is fixed.
    expect(sqliteFiles(dir)).toEqual(files);
    chmodSync(db, 0o644);
    expect(rows(db)).toEqual(before);
    const fixed = cliAs(
      UNPRIVILEGED!,
      ["--db", db, "--json", "tasks", "add", "c", "--title", "c"],
      dir,
    );
    expect(fixed.status, fixed.stdout).toBe(0);
    expect(taskIds(db)).toEqual(["a", "b", "c"]);
  });

  it("a stale read-only -shm or -wal beside a writable file is named, not reported as the database being read-only", () => {
    const db = seededDatabase();
    const dir = join(db, "..");
    const before = rows(db);
    for (const suffix of ["-shm", "-wal"]) {
      const stale = `${db}${suffix}`;
      writeFileSync(stale, suffix === "-shm" ? Buffer.alloc(32768) : Buffer.alloc(0));
      chmodSync(stale, 0o444);
      restore.push(() => rmSync(stale, { force: true }));
      const r = cliAs(
        UNPRIVILEGED!,
        ["--db", db, "--json", "tasks", "add", "c", "--title", "c"],
        dir,
      );
      expect(r.status, r.stdout + r.stderr).toBe(10);
      expect(r.json.error.code).toBe("DatabaseError");
      expect(r.json.error.message).toContain(`${stale} beside it is read-only`);
      expect(r.json.error.message).toContain(`chmod u+w ${stale}`);
      expect(r.json.error.details).toEqual({ file: db, path: stale });
      expect(rows(db)).toEqual(before);
      rmSync(stale);
    }
    const fixed = cliAs(
      UNPRIVILEGED!,
      ["--db", db, "--json", "tasks", "add", "c", "--title", "c"],
      dir,
    );
    expect(fixed.status, fixed.stdout).toBe(0);
  });

  it("a read-only directory: the error names the directory; a database that cannot be created there is named too", () => {
    const db = seededDatabase();
    const dir = join(db, "..");
    const before = rows(db);
    const files = sqliteFiles(dir);
    chmodSync(dir, 0o555);
    restore.push(() => chmodSync(dir, 0o755));
    const r = cliAs(
      UNPRIVILEGED!,
      ["--db", db, "--json", "tasks", "add", "c", "--title", "c"],
      dir,
    );
    expect(r.status, r.stdout + r.stderr).toBe(10);
    expect(r.json.error.code).toBe("DatabaseError");
    expect(r.json.error.message).toContain(`its directory ${dir} is read-only`);
    expect(r.json.error.details).toEqual({ file: db, path: dir });

    const nested = join(dir, "sub", "new.db");
    const made = cliAs(UNPRIVILEGED!, ["--db", nested, "--json", "init"], dir);
    expect(made.status, made.stdout + made.stderr).toBe(10);
    expect(made.json.error.message).toContain(`cannot create the directory ${join(dir, "sub")}`);

    chmodSync(dir, 0o755);
    expect(sqliteFiles(dir)).toEqual(files);
    expect(existsSync(join(dir, "sub"))).toBe(false);
    expect(rows(db)).toEqual(before);
  });
});

// ---------------------------------------------------------------------------------------------
// 3. A database locked by another program

/**
 * Another program holding the database's write lock (BEGIN EXCLUSIVE) until told to let go;
 * with `readers: true` in exclusive locking mode, so that even reading must wait.
 */
async function holdLock(
  db: string,
  options: { readers?: boolean } = {},
): Promise<{ release: () => Promise<void> }> {
  const child = spawn(
    process.execPath,
    [
      "-e",
      `const Database = require(${JSON.stringify(BETTER_SQLITE3)});
       const db = new Database(process.argv[1]);
       if (${options.readers === true}) db.pragma("locking_mode = EXCLUSIVE");
       db.exec("BEGIN EXCLUSIVE");
       db.prepare("INSERT INTO orchestrator_meta (key, value) VALUES ('held', 'by another program')").run();
       process.stdout.write("locked\\n");
       process.stdin.once("data", () => { db.exec("ROLLBACK"); db.close(); process.exit(0); });`,
      db,
    ],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once("data", () => resolve());
    child.once("exit", (code) => reject(new Error(`lock holder exited ${code}`)));
  });
  const exited = new Promise((r) => child.once("exit", r));
  return {
    release: async () => {
      child.stdin!.write("go\n");
      await exited;
    },
  };
}

/** Whether the process has `file` open (Linux /proc), or undefined when that cannot be told. */
function hasOpen(pid: number, file: string): boolean | undefined {
  const fds = `/proc/${pid}/fd`;
  if (!existsSync(fds)) return undefined;
  try {
    return readdirSync(fds).some((fd) => {
      try {
        return readlinkSync(join(fds, fd)) === file;
      } catch {
        return false;
      }
    });
  } catch {
    return undefined;
  }
}

describe("a database locked by another program", () => {
  it("held past ORCHESTRATOR_BUSY_TIMEOUT_MS: DatabaseError naming the file, the wait and the variable; nothing changed", async () => {
    const p = project(["a"]);
    const before = state(p);
    const lock = await holdLock(p.db);
    try {
      for (const args of [
        ["tasks", "add", "c", "--title", "c"],
        ["worktrees", "create", "--task-id", "a"],
      ]) {
        const r = cli(["--repo", p.repo, "--json", ...args], {
          cwd: p.repo,
          env: { ORCHESTRATOR_BUSY_TIMEOUT_MS: "300" },
        });
        expect(r.status, r.stdout + r.stderr).toBe(10);
        expect(r.json.error.code).toBe("DatabaseError");
        expect(r.json.error.message).toBe(
          `database ${p.db} is busy: it is locked by another process, which held the lock for longer than the busy timeout (300 ms) (SQLITE_BUSY); retry when that process has finished, or let commands wait longer by setting ORCHESTRATOR_BUSY_TIMEOUT_MS`,
        );
        expect(r.json.error.details).toEqual({
          file: p.db,
          sqlite_code: "SQLITE_BUSY",
          busy_timeout_ms: 300,
        });
      }
    } finally {
      await lock.release();
    }
    expect(state(p)).toEqual(before);
    expect(existsSync(join(p.base, "worktrees", "task-a"))).toBe(false);
  });

  it("held so that even reading waits: a reading command fails the same way, naming the wait", async () => {
    const db = seededDatabase();
    const before = rows(db);
    const lock = await holdLock(db, { readers: true });
    try {
      const r = cli(["--db", db, "--json", "tasks", "list"], {
        env: { ORCHESTRATOR_BUSY_TIMEOUT_MS: "200" },
      });
      expect(r.status, r.stdout + r.stderr).toBe(10);
      expect(r.json.error.code).toBe("DatabaseError");
      expect(r.json.error.message).toContain(
        `database ${db} is busy: it is locked by another process, which held the lock for longer than the busy timeout (200 ms)`,
      );
      expect(r.json.error.message).toContain("ORCHESTRATOR_BUSY_TIMEOUT_MS");
    } finally {
      await lock.release();
    }
    expect(rows(db)).toEqual(before);
  });

  it("released within the busy timeout: the waiting command goes through", async () => {
    const db = seededDatabase();
    const lock = await holdLock(db);
    const pending = cliAsync(["--db", db, "--json", "tasks", "add", "c", "--title", "c"], {
      env: { ORCHESTRATOR_BUSY_TIMEOUT_MS: "60000" },
    });
    let exitedEarly = false;
    pending.child.once("exit", () => (exitedEarly = true));
    try {
      // Let it reach the database (and its lock) before letting go.
      const deadline = Date.now() + 20_000;
      while (hasOpen(pending.child.pid!, db) === false && Date.now() < deadline && !exitedEarly) {
        await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 300));
      expect(exitedEarly).toBe(false);
    } finally {
      await lock.release();
    }
    const r = await pending.done;
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(taskIds(db)).toEqual(["a", "b", "c"]);
    expect(integrity(db)).toBe("ok");
  });

  it("an invalid ORCHESTRATOR_BUSY_TIMEOUT_MS is InvalidInput naming it, before the database is touched", () => {
    const dir = tempDir("orch-res-");
    const db = join(dir, "never.db");
    for (const value of ["soon", "-5", "1.5", "1e4", "99999999999"]) {
      const r = cli(["--db", db, "--json", "init"], {
        cwd: dir,
        env: { ORCHESTRATOR_BUSY_TIMEOUT_MS: value },
      });
      expect(r.status, r.stdout + r.stderr).toBe(2);
      expect(r.json.error.code).toBe("InvalidInput");
      expect(r.json.error.message).toContain(
        `ORCHESTRATOR_BUSY_TIMEOUT_MS=${JSON.stringify(value)}`,
      );
      expect(r.json.error.details).toEqual({ ORCHESTRATOR_BUSY_TIMEOUT_MS: value });
    }
    expect(readdirSync(dir)).toEqual([]);
    const ok = cli(["--db", db, "--json", "init"], {
      cwd: dir,
      env: { ORCHESTRATOR_BUSY_TIMEOUT_MS: "2500" },
    });
    expect(ok.status, ok.stdout).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// 4. Stale git lock files

describe("a stale git lock file", () => {
  it("index.lock in the checkout of the integration branch: merge refuses before anything moves, then works once it is removed", () => {
    const p = project(["a"]);
    workOn(p, "a");
    git(p.repo, "checkout", "-q", "roadmap");
    const lock = join(p.repo, ".git", "index.lock");
    writeFileSync(lock, "");
    const before = state(p);
    const r = p.run("worktrees", "merge", "--task-id", "a");
    expect(r.status, r.stdout).toBe(9);
    expect(r.json.error.code).toBe("GitError");
    expect(r.json.error.message).toContain(`git's lock file ${lock} exists`);
    expect(r.json.error.message).toMatch(
      /If no git process is running, remove it .*Nothing was changed/,
    );
    expect(r.json.error.details).toEqual({ branch: "roadmap", lock_files: [lock] });
    expect(state(p)).toEqual(before);
    expect(taskStatus(p, "a")).not.toBe("completed");

    rmSync(lock);
    const merged = p.run("worktrees", "merge", "--task-id", "a");
    expect(merged.json.result.status).toBe("merged");
    // The checkout moved with its branch: no staged reversal of the merge.
    expect(git(p.repo, "status", "--porcelain")).toBe("");
    expect(readFileSync(join(p.repo, "a.txt"), "utf8")).toBe("a\n");
  });

  it("the integration branch's ref lock: merge refuses naming it, the record stays active, nothing moves", () => {
    const p = project(["a"]);
    workOn(p, "a");
    const lock = join(p.repo, ".git", "refs", "heads", "roadmap.lock");
    writeFileSync(lock, "");
    const before = state(p);
    const r = p.run("worktrees", "merge", "--task-id", "a");
    expect(r.status, r.stdout).toBe(9);
    expect(r.json.error.message).toContain(`git's lock file ${lock} exists`);
    expect(state(p)).toEqual(before);
    const row = (rows(p.db).git_worktree_tracker as { status: string }[])[0];
    expect(row?.status).toBe("active");
    rmSync(lock);
    expect(p.run("worktrees", "merge", "--task-id", "a").json.result.status).toBe("merged");
  });
});

// ---------------------------------------------------------------------------------------------
// 5. A worktree directory deleted by hand

describe("a worktree directory deleted by hand", () => {
  it("is reported, never costs the branch its commits, and is made again on the same branch", () => {
    const p = project(["a"]);
    const { path, tip } = workOn(p, "a");
    rmSync(path, { recursive: true, force: true });

    const listed = p.run("worktrees", "list").json.result.worktrees;
    expect(listed[0].problems.join(" ")).toMatch(/directory is gone/);

    for (const args of [["--merged"], ["--task-id", "a"]]) {
      const r = p.run("worktrees", "cleanup", ...args);
      expect(r.status, r.stdout).toBe(0);
      expect(r.json.result.removed).toEqual([]);
      expect(r.json.result.kept[0].reason).toMatch(/1 commit not merged into roadmap/);
      expect(git(p.repo, "rev-parse", BRANCH("a"))).toBe(tip);
    }
    // cleanup pruned git's stale registration
    expect(git(p.repo, "worktree", "list", "--porcelain")).not.toContain(path);

    const again = p.run("worktrees", "create", "--task-id", "a", "--reuse");
    expect(again.status, again.stdout).toBe(0);
    expect(git(path, "rev-parse", "HEAD")).toBe(tip);
    expect(p.run("worktrees", "list").json.result.worktrees[0].problems).toEqual([]);
  });

  it("run makes it again on the same branch for the task's agent, and its commits reach the integration branch", async () => {
    const { repo } = demoRepo();
    const run = (...args: string[]) => cli(["--json", ...args], { cwd: repo });
    expect(run("tasks", "add", "x", "--title", "task x").status).toBe(0);
    expect(run("assign").json.result.tasks_assigned).toBe(1);
    const path = run("worktrees", "create", "--task-id", "x").json.result.worktree_path;
    // Work committed earlier (the demo agent sees it and has nothing to redo), then the
    // directory deleted by hand.
    writeFileSync(join(path, "x.md"), "earlier work\n");
    git(path, "add", "x.md");
    git(path, "commit", "-q", "-m", "task x: earlier work");
    const tip = git(path, "rev-parse", "HEAD");
    rmSync(path, { recursive: true, force: true });

    const r = await cliAsync(["run", "--json"], { cwd: repo, env: { DEMO_AGENT_SECONDS: "0.2" } })
      .done;
    expect(r.status, r.stderr + r.stdout.slice(-2000)).toBe(0);
    expect(run("tasks", "show", "x").json.result.status).toBe("completed");
    expect(git(repo, "rev-parse", "roadmap^2")).toBe(tip);
    expect(git(repo, "show", "roadmap:x.md")).toBe("earlier work");
    const created = rows(join(repo, ".orchestrator", "orchestrator.db")).orchestrator_event as {
      kind: string;
      detail: string | null;
    }[];
    expect(
      created
        .filter((e) => e.kind === "worktree_created")
        .map((e) => JSON.parse(e.detail ?? "{}").recreated),
    ).toEqual([false, true]);
  });

  it("merge works from the branch alone, and cleanup then removes the record", () => {
    const p = project(["a"]);
    const { path, tip } = workOn(p, "a");
    rmSync(path, { recursive: true, force: true });
    const merged = p.run("worktrees", "merge", "--task-id", "a");
    expect(merged.json.result.status).toBe("merged");
    expect(git(p.repo, "rev-parse", "roadmap^2")).toBe(tip);
    const cleaned = p.run("worktrees", "cleanup", "--merged");
    expect(cleaned.json.result).toEqual({ removed: ["a"], kept: [], already_removed: [] });
    expect(git(p.repo, "branch", "--list", BRANCH("a"))).toBe("");
    expect(git(p.repo, "worktree", "list", "--porcelain")).not.toContain(path);
  });
});

// ---------------------------------------------------------------------------------------------
// 6. Branches deleted by hand

describe("a branch deleted by hand", () => {
  it("the task branch and its worktree removed by hand: merge refuses with advice; create --reuse and cleanup repair the record", () => {
    const p = project(["a", "b"]);
    const { path } = workOn(p, "a");
    workOn(p, "b");
    git(p.repo, "worktree", "remove", "--force", path);
    git(p.repo, "branch", "-D", BRANCH("a"));

    const before = state(p);
    const r = p.run("worktrees", "merge", "--task-id", "a");
    expect(r.status, r.stdout).toBe(9);
    expect(r.json.error.code).toBe("GitError");
    expect(r.json.error.message).toContain(`branch ${BRANCH("a")} of task a is gone`);
    expect(r.json.error.message).toContain("worktrees cleanup --task-id a");
    expect(r.json.error.message).toMatch(/Nothing was changed$/);
    expect(state(p)).toEqual(before);

    // create --reuse makes worktree and branch afresh from the integration branch.
    const again = p.run("worktrees", "create", "--task-id", "a", "--reuse");
    expect(again.status, again.stdout).toBe(0);
    expect(git(path, "rev-parse", "HEAD")).toBe(git(p.repo, "rev-parse", "roadmap"));
    const views = p.run("worktrees", "list").json.result.worktrees;
    expect(views.find((w: { task_id: string }) => w.task_id === "a").problems).toEqual([]);

    // cleanup of b after its branch is deleted too: the record goes, nothing crashes.
    const pb = join(p.base, "worktrees", "task-b");
    git(p.repo, "worktree", "remove", "--force", pb);
    git(p.repo, "branch", "-D", BRANCH("b"));
    const cleaned = p.run("worktrees", "cleanup", "--task-id", "b");
    expect(cleaned.json.result).toEqual({ removed: ["b"], kept: [], already_removed: [] });
    expect(
      (rows(p.db).git_worktree_tracker as { task_id: string; status: string }[])
        .filter((w) => w.task_id === "b")
        .map((w) => w.status),
    ).toEqual(["removed"]);
  });

  it("the task branch deleted under its worktree: create --reuse refuses with advice, cleanup keeps the files unless forced", () => {
    const p = project(["a"]);
    const { path } = workOn(p, "a");
    git(p.repo, "update-ref", "-d", `refs/heads/${BRANCH("a")}`);
    const before = state(p);

    const reuse = p.run("worktrees", "create", "--task-id", "a", "--reuse");
    expect(reuse.status, reuse.stdout).toBe(9);
    expect(reuse.json.error.message).toContain(`branch ${BRANCH("a")} of task a is gone`);
    expect(reuse.json.error.message).toContain("worktrees cleanup --task-id a --force");
    expect(state(p)).toEqual(before);
    const merge = p.run("worktrees", "merge", "--task-id", "a");
    expect(merge.status, merge.stdout).toBe(9);
    expect(merge.json.error.message).toContain(`Its worktree ${path} still holds its files`);
    expect(merge.json.error.message).toContain("worktrees cleanup --task-id a --force");
    expect(state(p)).toEqual(before);

    const kept = p.run("worktrees", "cleanup", "--task-id", "a");
    expect(kept.json.result.removed).toEqual([]);
    expect(kept.json.result.kept[0].reason).toMatch(/is gone .* files that are on no branch/);
    expect(readFileSync(join(path, "a.txt"), "utf8")).toBe("a\n");

    const forced = p.run("worktrees", "cleanup", "--task-id", "a", "--force");
    expect(forced.json.result).toEqual({ removed: ["a"], kept: [], already_removed: [] });
    expect(existsSync(path)).toBe(false);
    expect(p.run("worktrees", "create", "--task-id", "a").status).toBe(0);
  });

  it("the integration branch deleted by hand is reported, never silently made again from main", () => {
    const p = project(["a", "b"]);
    workOn(p, "a");
    const { path: pb } = workOn(p, "b");
    const merged = p.run("worktrees", "merge", "--task-id", "a").json.result.merge_commit;
    git(p.repo, "branch", "-D", "roadmap");
    expect(p.run("tasks", "add", "c", "--title", "task c").status).toBe(0);
    const before = state(p);

    for (const args of [
      ["worktrees", "merge", "--task-id", "b"],
      ["worktrees", "create", "--task-id", "c"],
    ]) {
      const r = p.run(...args);
      expect(r.status, `${args.join(" ")}: ${r.stdout}`).toBe(9);
      expect(r.json.error.code).toBe("GitError");
      expect(r.json.error.message).toContain("the integration branch roadmap is gone");
      expect(r.json.error.message).toContain(`git branch roadmap ${merged}`);
      expect(r.json.error.details).toMatchObject({ branch: "roadmap", last_merge_commit: merged });
      expect(state(p)).toEqual(before);
    }
    expect(existsSync(join(p.base, "worktrees", "task-c"))).toBe(false);

    git(p.repo, "branch", "roadmap", merged);
    expect(p.run("worktrees", "merge", "--task-id", "b").json.result.status).toBe("merged");
    expect(git(p.repo, "rev-parse", "roadmap^1")).toBe(merged);
    expect(existsSync(pb)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// 7. A dirty integration checkout

describe("a dirty checkout of the integration branch", () => {
  it("uncommitted changes: merge refuses naming the files, and changes nothing", () => {
    const p = project(["a"]);
    workOn(p, "a");
    git(p.repo, "checkout", "-q", "roadmap");
    writeFileSync(join(p.repo, "README.md"), "local edit\n");
    const before = state(p);
    const r = p.run("worktrees", "merge", "--task-id", "a");
    expect(r.status, r.stdout).toBe(9);
    expect(r.json.error.code).toBe("GitError");
    expect(r.json.error.message).toContain(
      `the integration branch roadmap is checked out at ${p.repo} with uncommitted changes (README.md)`,
    );
    expect(r.json.error.details.dirty_paths).toEqual(["README.md"]);
    expect(state(p)).toEqual(before);
    expect(readFileSync(join(p.repo, "README.md"), "utf8")).toBe("local edit\n");
    expect(taskStatus(p, "a")).not.toBe("completed");
  });

  it("an untracked file the merge would overwrite: merge refuses naming it before the branch moves, then works once it is moved away", () => {
    const p = project(["a"]);
    workOn(p, "a");
    git(p.repo, "checkout", "-q", "roadmap");
    writeFileSync(join(p.repo, "a.txt"), "mine, untracked\n");
    const before = state(p);
    const r = p.run("worktrees", "merge", "--task-id", "a");
    expect(r.status, r.stdout).toBe(9);
    expect(r.json.error.code).toBe("GitError");
    expect(r.json.error.message).toContain(
      `checked out at ${p.repo}, and the merge could not be written there`,
    );
    expect(r.json.error.message).toContain("a.txt");
    expect(state(p)).toEqual(before);
    expect(readFileSync(join(p.repo, "a.txt"), "utf8")).toBe("mine, untracked\n");

    renameSync(join(p.repo, "a.txt"), join(p.base, "a.txt.mine"));
    expect(p.run("worktrees", "merge", "--task-id", "a").json.result.status).toBe("merged");
    expect(git(p.repo, "status", "--porcelain")).toBe("");
    expect(taskStatus(p, "a")).toBe("completed");
  });
});
