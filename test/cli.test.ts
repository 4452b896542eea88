import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SCHEMA_VERSION } from "@orchestrator/db";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { cli, ROOT } from "./helpers/cli.js";
import { git, tempRepo } from "./helpers/git.js";
import { tempDir } from "./helpers/tmp.js";

const PLAN = join(ROOT, "examples", "plan.yaml");

describe("orchestrator CLI (built, as a subprocess)", () => {
  it("init, import, list and assign in a repository, with the database git-ignored", () => {
    const repo = tempRepo();
    const init = cli(["init", "--json"], { cwd: repo });
    expect(init.status).toBe(0);
    expect(init.json).toMatchObject({
      ok: true,
      command: "init",
      result: { schema_version: SCHEMA_VERSION, tasks: 0 },
    });
    expect(existsSync(join(repo, ".orchestrator", "orchestrator.db"))).toBe(true);
    expect(git(repo, "status", "--porcelain")).toBe("");

    const imported = cli(["tasks", "import", PLAN, "--json"], { cwd: repo });
    expect(imported.json).toEqual({
      ok: true,
      command: "tasks import",
      result: {
        imported: 12,
        updated: 0,
        unchanged: 0,
        edges: 7,
        edges_removed: 0,
        skipped_started: [],
      },
    });

    const list = cli(["tasks", "list", "--json"], { cwd: repo });
    const tasks = list.json.result.tasks as Record<string, unknown>[];
    expect(tasks).toHaveLength(12);
    expect(tasks.find((t) => t.id === "auth-integration")).toMatchObject({
      id: "auth-integration",
      title: "Wire the auth API to the user model",
      status: "pending",
      group: "PRIORITY-32",
      priority: 1,
      agent_type: "code_developer",
      depends_on: ["auth-api", "user-model"],
      blocked_by: ["auth-api", "user-model"],
    });

    const assigned = cli(["assign", "--max-parallel", "3", "--json"], { cwd: repo });
    expect(assigned.status).toBe(0);
    expect(assigned.json.result).toMatchObject({
      status: "assigned",
      tasks_assigned: 3,
      running: 3,
      blocked_tasks: 6,
    });
    expect(assigned.json.result.assignments.map((a: { task_id: string }) => a.task_id)).toEqual([
      "db-schema",
      "theme-dark",
      "theme-light",
    ]);
    for (const a of assigned.json.result.assignments) {
      expect(Object.keys(a).sort()).toEqual(
        ["agent_type", "message_id", "orchestrator_task_id", "task_id", "title"].sort(),
      );
    }

    const text = cli(["assign", "--max-parallel", "3"], { cwd: repo });
    expect(text.stdout).toMatch(/^At capacity: nothing assigned \(running 3\/3, 6 blocked\)/);
    expect(text.stdout).not.toContain("\u001b");
  });

  it("finds the database through --db and ORCHESTRATOR_DB", () => {
    const dir = tempDir();
    const viaEnv = join(dir, "env.db");
    expect(cli(["init"], { cwd: dir, env: { ORCHESTRATOR_DB: viaEnv } }).status).toBe(0);
    expect(existsSync(viaEnv)).toBe(true);
    const viaFlag = join(dir, "flag.db");
    cli(["tasks", "add", "one", "--title", "One", "--db", viaFlag], {
      cwd: dir,
      env: { ORCHESTRATOR_DB: viaEnv },
    });
    expect(cli(["tasks", "list", "--json", "--db", viaFlag]).json.result.tasks).toHaveLength(1);
    expect(
      cli(["tasks", "list", "--json"], { env: { ORCHESTRATOR_DB: viaEnv } }).json.result.tasks,
    ).toHaveLength(0);
  });

  it("complete unblocks dependents and show explains why a task is not ready", () => {
    const db = join(tempDir(), "o.db");
    cli(["tasks", "import", PLAN, "--db", db]);
    expect(cli(["tasks", "show", "auth-api", "--db", db]).stdout).toMatch(
      /blocked: waiting on db-schema \(pending\)/,
    );
    const done = cli(["tasks", "complete", "db-schema", "--db", db, "--json"]);
    expect(done.json.result).toMatchObject({
      status: "completed",
      unblocked: ["auth-api", "logging", "user-model"],
    });
    expect(cli(["tasks", "show", "auth-api", "--db", db]).stdout).toMatch(
      /ready: every task it depends on is completed/,
    );
  });

  it.each([
    [["tasks", "show", "ghost"], 3, "TaskNotFound"],
    [["tasks", "complete", "../x"], 2, "InvalidInput"],
    [["tasks", "add", "a;rm -rf", "--title", "x"], 2, "InvalidInput"],
    [["assign", "--task-ids", "ghost"], 3, "TaskNotFound"],
    [["assign", "--max-parallel", "many"], 2, "InvalidInput"],
    [["assign", "--no-such-flag"], 2, "InvalidInput"],
    [["tasks", "list", "--status", "sleeping"], 2, "InvalidInput"],
  ])("%j fails with exit %i and a %s document", (args, status, code) => {
    const db = join(tempDir(), "o.db");
    cli(["tasks", "add", "a", "--title", "A", "--db", db]);
    const r = cli([...args, "--db", db, "--json"]);
    expect(r.status).toBe(status);
    expect(r.json).toMatchObject({ ok: false, error: { code } });
    expect(r.json.error.message.length).toBeGreaterThan(10);
  });

  it("refuses a plan with a cycle, naming the cycle, exit 4", () => {
    const dir = tempDir();
    const file = join(dir, "cycle.json");
    writeFileSync(
      file,
      JSON.stringify({
        tasks: [
          { id: "a", title: "A", depends_on: ["b"] },
          { id: "b", title: "B", depends_on: ["a"] },
        ],
      }),
    );
    const r = cli(["tasks", "import", file, "--db", join(dir, "o.db"), "--json"]);
    expect(r.status).toBe(4);
    expect(r.json.error.code).toBe("DependencyCycle");
    expect(r.json.error.details.cycle).toHaveLength(3);
    expect(cli(["tasks", "list", "--json", "--db", join(dir, "o.db")]).json.result.tasks).toEqual(
      [],
    );
  });

  it.each([
    ["plan.yaml", "tasks:\n  - id: a\n    title: [unclosed\n", /not valid YAML/],
    ["plan.json", '{"tasks": [ {"id": "a", ', /not valid JSON/],
    ["plan.yaml", "tasks:\n  - id: a\n", /tasks\.0\.title/],
    ["plan.yaml", "tasks:\n  - id: a\n    title: A\n    depends: [b]\n", /Unrecognized key/],
    ["plan.yaml", "- just a list\n", /expected a document with a `tasks:` list/],
  ])(
    "refuses a malformed plan (%s) with InvalidInput and a pointed message",
    (name, content, message) => {
      const dir = tempDir();
      writeFileSync(join(dir, name), content);
      const r = cli(["tasks", "import", join(dir, name), "--db", join(dir, "o.db"), "--json"]);
      expect(r.status).toBe(2);
      expect(r.json.error.code).toBe("InvalidInput");
      expect(r.json.error.message).toMatch(message);
      // The plan is refused before the database is opened: none is created.
      expect(existsSync(join(dir, "o.db"))).toBe(false);
    },
  );

  it("tasks add with a bad id creates no database; a good one does", () => {
    const dir = tempDir();
    const db = join(dir, "sub", "o.db");
    const bad = cli(["tasks", "add", "../x", "--title", "X", "--db", db, "--json"]);
    expect(bad.status).toBe(2);
    expect(bad.json.error.message).toMatch(/invalid task id "\.\.\/x"/);
    expect(existsSync(db)).toBe(false);
    expect(cli(["tasks", "add", "x", "--title", "X", "--db", db, "--json"]).status).toBe(0);
    expect(existsSync(db)).toBe(true);
  });

  it("refuses a corrupt database file with DatabaseError (exit 10) and leaves it untouched", () => {
    const dir = tempDir();
    const db = join(dir, "o.db");
    writeFileSync(db, "definitely not sqlite".repeat(100));
    const r = cli(["tasks", "list", "--db", db, "--json"]);
    expect(r.status).toBe(10);
    expect(r.json.error.code).toBe("DatabaseError");
    expect(r.json.error.message).toContain(db);
    expect(readFileSync(db, "utf8")).toBe("definitely not sqlite".repeat(100));
    expect(existsSync(`${db}-wal`)).toBe(false);
  });

  it("refuses a database from a newer orchestrator with DatabaseError", () => {
    const db = join(tempDir(), "o.db");
    const raw = new Database(db);
    raw.pragma("user_version = 99");
    raw.close();
    const r = cli(["assign", "--db", db, "--json"]);
    expect(r.status).toBe(10);
    expect(r.json.error.message).toMatch(/schema version 99/);
  });

  it("prints titles with terminal escape sequences safely", () => {
    const db = join(tempDir(), "o.db");
    cli(["tasks", "add", "evil", "--title", "x\u001b[2J\u001b]0;pwned\u0007y", "--db", db]);
    const out = cli(["tasks", "list", "--db", db]).stdout;
    expect(out).not.toContain("\u001b");
    expect(out).toContain("x\\u{1b}[2J");
    expect(cli(["tasks", "list", "--db", db, "--json"]).json.result.tasks[0].title).toBe(
      "x\u001b[2J\u001b]0;pwned\u0007y",
    );
  });

  it.each([
    ["init"],
    ["tasks", "import"],
    ["tasks", "list"],
    ["tasks", "add"],
    ["tasks", "complete"],
    ["assign"],
  ])("%s --help shows an example", (...command) => {
    const r = cli([...command, "--help"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Example/);
  });
});
