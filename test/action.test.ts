import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { deflateRawSync } from "node:zlib";
import Database from "better-sqlite3";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { readSingleFile, writeZip } from "../packages/action/src/zip.js";
import {
  expectTokenNeverWritten,
  runStep,
  type StepOptions,
  type StepResult,
} from "./helpers/action.js";
import { ROOT } from "./helpers/cli.js";
import { tempRepo } from "./helpers/git.js";
import { GitHubServer, REPOSITORY_ID } from "./helpers/github-server.js";
import { tempDir } from "./helpers/tmp.js";

let server: GitHubServer;
let nextRun = 100;
beforeAll(async () => {
  server = await new GitHubServer().start();
});
afterAll(() => server.stop());
afterEach(() => {
  server.artifacts.clear();
  server.afterDownload = undefined;
});

/** A workspace (a git checkout) with the example plan in it. */
function workspace(): string {
  const repo = tempRepo();
  copyFileSync(join(ROOT, "examples", "plan.yaml"), join(repo, "plan.yaml"));
  return repo;
}

const step = (ws: string, inputs: Record<string, string>, more: Partial<StepOptions> = {}) =>
  runStep(server, { inputs, runId: more.runId ?? nextRun++, workspace: ws, ...more });

const expectNoToken = (r: StepResult) => expectTokenNeverWritten(r, server.token);

const dbArtifacts = () =>
  [...server.artifacts.values()].filter(
    (a) => a.name === "orchestrator-db" || a.name === "orchestrator-db-b",
  );

function mergedEvent(branch: string, merged = true, number = 7) {
  return {
    action: "closed",
    number,
    pull_request: { number, merged, head: { ref: branch }, merge_commit_sha: "a".repeat(40) },
  };
}

/** A copy of the current database's bytes (from the newest database artifact's zip). */
function newestDbZip(): Buffer {
  return dbArtifacts().sort((a, b) => b.id - a.id)[0]!.data;
}

describe("the bundled action, run as a runner runs it, across workflow runs", () => {
  it("carries the database from run to run: import, assign (matrix), merged pull request, list", async () => {
    const ws = workspace();
    const imported = await step(ws, {
      command: "tasks",
      action: "import",
      args: "plan.yaml",
      init: "true",
    });
    expect(imported.status, imported.stdout).toBe(0);
    expect(imported.result).toMatchObject({ imported: 12, edges: 7 });
    expect(imported.outputs).toMatchObject({
      ok: "true",
      generation: "1",
      "restored-artifact-id": "",
    });
    expectNoToken(imported);

    const assigned = await step(ws, { command: "assign", "max-parallel": "2" });
    expect(assigned.status, assigned.stdout).toBe(0);
    expect(assigned.outputs["restored-artifact-id"]).toBe(imported.outputs["artifact-id"]);
    expect(assigned.outputs.generation).toBe("2");
    expect(assigned.outputs["has-work"]).toBe("true");
    expect(JSON.parse(assigned.outputs.matrix!)).toEqual({
      include: [
        { task_id: "db-schema", agent_type: "code_developer", title: "Create the database schema" },
        {
          task_id: "theme-dark",
          agent_type: "code_developer",
          title: "Add a dark theme to the settings",
        },
      ],
    });
    expect(assigned.summary).toContain("## orchestrator assign: ✅ ok");
    expect(assigned.summary).toContain("### Assignments");
    expect(assigned.summary).toMatch(/```mermaid\nflowchart LR\n/);
    expect(assigned.summary).toMatch(/:::assigned/);
    expect(assigned.summary).toContain("Restored generation 1 from artifact");
    expectNoToken(assigned);

    // Nothing ready beyond max-parallel: an empty matrix, announced so the job can be skipped.
    const full = await step(ws, { command: "assign", "max-parallel": "2" });
    expect(full.outputs).toMatchObject({ "has-work": "false", matrix: '{"include":[]}' });
    expect(full.outputs["artifact-id"]).toBeUndefined(); // unchanged: no upload

    const merged = await step(
      ws,
      { command: "pr-merged" },
      {
        eventName: "pull_request",
        event: mergedEvent("roadmap-implementation_task-db-schema"),
      },
    );
    expect(merged.status, merged.stdout).toBe(0);
    expect(merged.result).toMatchObject({
      task_id: "db-schema",
      status: "completed",
      unblocked: ["auth-api", "logging", "user-model"],
    });
    expect(merged.outputs.generation).toBe("3");

    const listed = await step(ws, { command: "tasks", action: "list", status: "completed" });
    expect(listed.result.tasks.map((t: { id: string }) => t.id)).toEqual(["db-schema"]);
    expect(listed.outputs.generation).toBe("3");
    expect(dbArtifacts()).toHaveLength(3);

    // The database records its generation and the artifact it came from.
    const file = join(tempDir(), "restored.db");
    writeFileSync(file, readSingleFile(newestDbZip(), "orchestrator.db", 1 << 26));
    const db = new Database(file, { readonly: true });
    const meta = Object.fromEntries(
      (
        db.prepare("SELECT key, value FROM orchestrator_meta").all() as {
          key: string;
          value: string;
        }[]
      ).map((r) => [r.key, r.value]),
    );
    db.close();
    expect(meta["artifact.generation"]).toBe("3");
    expect(JSON.parse(meta["artifact.restored_from"]!)).toMatchObject({
      artifact_id: Number(assigned.outputs["artifact-id"]),
      generation: 2,
    });
    expect(JSON.parse(meta["artifact.written_by"]!)).toMatchObject({ command: "pr-merged" });
  });

  it("alternates between two names when one run writes the database several times", async () => {
    const ws = workspace();
    const runId = nextRun++;
    await step(
      ws,
      { command: "tasks", action: "import", args: "plan.yaml", init: "true" },
      { runId },
    );
    await step(ws, { command: "tasks", action: "complete", args: "db-schema" }, { runId });
    expect(
      dbArtifacts()
        .map((a) => a.name)
        .sort(),
    ).toEqual(["orchestrator-db", "orchestrator-db-b"]);
    const third = await step(
      ws,
      { command: "tasks", action: "complete", args: "docs-outline" },
      { runId },
    );
    expect(third.status, third.stdout).toBe(0);
    expect(third.outputs.generation).toBe("3");
    expect(third.summary).toContain("replaced this run");
    const names = dbArtifacts().sort((a, b) => a.id - b.id);
    expect(names.map((a) => a.name)).toEqual(["orchestrator-db-b", "orchestrator-db"]);
    const next = await step(ws, { command: "tasks", action: "list", status: "completed" });
    expect(next.result.tasks.map((t: { id: string }) => t.id).sort()).toEqual([
      "db-schema",
      "docs-outline",
    ]);
  });

  it("fails clearly when there is no database artifact, and starts fresh only with init: true", async () => {
    const ws = workspace();
    const missing = await step(ws, { command: "tasks", action: "list" });
    expect(missing.status).toBe(1);
    expect(missing.outputs).toMatchObject({
      ok: "false",
      "error-code": "DatabaseMissing",
      result: "null",
    });
    expect(missing.stdout).toMatch(
      /::error title=orchestrator tasks list%3A DatabaseMissing::no unexpired database artifact named orchestrator-db/,
    );
    expect(missing.summary).toContain("DatabaseMissing");
    expect(server.artifacts.size).toBe(0);
    expectNoToken(missing);

    const fresh = await step(ws, { command: "init", init: "true" });
    expect(fresh.status, fresh.stdout).toBe(0);
    expect(fresh.outputs.generation).toBe("1");
    // init refreshes the artifact (and its retention) even when nothing changed.
    const again = await step(ws, { command: "init", init: "true" });
    expect(again.outputs["restored-artifact-id"]).toBe(fresh.outputs["artifact-id"]);
    expect(again.outputs.generation).toBe("2");
  });

  it("refuses to upload over a newer artifact that appeared while the step ran", async () => {
    const ws = workspace();
    await step(ws, { command: "tasks", action: "import", args: "plan.yaml", init: "true" });
    // Another workflow run uploads a newer database while this step works.
    server.afterDownload = () => {
      server.afterDownload = undefined;
      server.addArtifact({ name: "orchestrator-db", runId: 99_999, data: newestDbZip() });
    };
    const before = server.artifacts.size;
    const raced = await step(ws, { command: "tasks", action: "complete", args: "db-schema" });
    expect(raced.status).toBe(1);
    expect(raced.outputs["error-code"]).toBe("DatabaseConflict");
    expect(raced.stdout).toMatch(/a newer database artifact appeared before the upload/);
    expect(raced.stdout).toMatch(/concurrency/);
    expect(server.artifacts.size).toBe(before + 1); // only the other run's
    expect(raced.outputs["artifact-id"]).toBeUndefined();

    // The next step starts from the other run's database; `init: true` never wipes it.
    const next = await step(ws, { command: "init", init: "true" });
    expect(next.status, next.stdout).toBe(0);
    expect(next.outputs["restored-artifact-id"]).toBe(
      String(
        Math.max(
          ...dbArtifacts()
            .filter((a) => a.runId === 99_999)
            .map((a) => a.id),
        ),
      ),
    );
  });

  it("does not take a read-only command as a write: no upload, no conflict check", async () => {
    const ws = workspace();
    await step(ws, { command: "tasks", action: "import", args: "plan.yaml", init: "true" });
    const count = server.artifacts.size;
    const dry = await step(ws, { command: "assign", "dry-run": "true" });
    expect(dry.status).toBe(0);
    expect(dry.result).toMatchObject({ dry_run: true, tasks_assigned: 3 });
    expect(dry.outputs["has-work"]).toBe("true");
    expect(server.artifacts.size).toBe(count);
    expect(dry.summary).toContain("Unchanged: nothing uploaded.");
  });

  describe("a hostile or broken artifact is refused before the database is opened", () => {
    const sqliteHeader = Buffer.from("SQLite format 3\0", "latin1");
    const cases: [string, () => Buffer, RegExp, Record<string, string>?][] = [
      [
        "not a zip",
        () => Buffer.from("this is not a zip archive at all, just text"),
        /not a zip archive/,
      ],
      [
        "a zip with a second file",
        () =>
          writeZip([
            { name: "orchestrator.db", data: Buffer.concat([sqliteHeader, Buffer.alloc(200)]) },
            { name: "../../.bashrc", data: Buffer.from("echo pwned") },
          ]),
        /exactly one file/,
      ],
      [
        "a zip whose file has another name",
        () => writeZip([{ name: "../orchestrator.db", data: Buffer.alloc(200) }]),
        /expected orchestrator\.db/,
      ],
      [
        "a zip of a file that is not SQLite",
        () => writeZip([{ name: "orchestrator.db", data: Buffer.alloc(4096, 0x41) }]),
        /not a SQLite database/,
      ],
      [
        "a SQLite database that is not an orchestrator database",
        () => {
          const file = join(tempDir(), "other.db");
          const db = new Database(file);
          db.exec("CREATE TABLE secrets (x TEXT); INSERT INTO secrets VALUES ('hi');");
          db.close();
          return writeZip([{ name: "orchestrator.db", data: readFileSync(file) }]);
        },
        /schema version 0|not an orchestrator database/,
      ],
      [
        "a zip bomb whose header lies about its size",
        () => {
          const data = Buffer.concat([sqliteHeader, Buffer.alloc(8 * 1024 * 1024)]);
          const zip = writeZip([{ name: "orchestrator.db", data: Buffer.alloc(0) }]);
          // Swap in deflated content that inflates far beyond what the headers claim.
          const deflated = deflateRawSync(data);
          const name = Buffer.from("orchestrator.db");
          const local = Buffer.alloc(30);
          local.writeUInt32LE(0x04034b50, 0);
          local.writeUInt16LE(8, 8);
          local.writeUInt32LE(deflated.length, 18);
          local.writeUInt32LE(100, 22);
          local.writeUInt16LE(name.length, 26);
          const central = Buffer.alloc(46);
          central.writeUInt32LE(0x02014b50, 0);
          central.writeUInt16LE(8, 10);
          central.writeUInt32LE(deflated.length, 20);
          central.writeUInt32LE(100, 24);
          central.writeUInt16LE(name.length, 28);
          const body = Buffer.concat([local, name, deflated]);
          const end = Buffer.alloc(22);
          end.writeUInt32LE(0x06054b50, 0);
          end.writeUInt16LE(1, 8);
          end.writeUInt16LE(1, 10);
          end.writeUInt32LE(46 + name.length, 12);
          end.writeUInt32LE(body.length, 16);
          expect(zip.length).toBeGreaterThan(0);
          return Buffer.concat([body, central, name, end]);
        },
        /could not be inflated within|bytes, its header says/,
        { "max-db-size": "1MiB" },
      ],
      [
        "an artifact bigger than max-db-size",
        () =>
          writeZip([
            {
              name: "orchestrator.db",
              data: Buffer.concat([sqliteHeader, Buffer.alloc(300 * 1024)]),
            },
          ]),
        /above max-db-size/,
        { "max-db-size": "64KiB" },
      ],
    ];
    it.each(cases)("%s", async (_label, make, message, inputs = {}) => {
      const ws = workspace();
      server.addArtifact({ name: "orchestrator-db", runId: 1, data: make() });
      const r = await step(ws, { command: "tasks", action: "list", ...inputs });
      expect(r.status).toBe(1);
      expect(r.outputs["error-code"]).toBe("DatabaseRejected");
      expect(r.stdout).toMatch(message);
      expect(existsSync(join(ws, "..", ".bashrc"))).toBe(false);
      expectNoToken(r);
    });

    it("an artifact uploaded by a fork's pull request run is never restored", async () => {
      const ws = workspace();
      await step(ws, { command: "tasks", action: "import", args: "plan.yaml", init: "true" });
      const good = dbArtifacts()[0]!;
      server.addArtifact({
        name: "orchestrator-db-b",
        runId: 555,
        data: writeZip([{ name: "orchestrator.db", data: Buffer.alloc(10) }]),
        headRepositoryId: REPOSITORY_ID + 1,
        headBranch: "evil",
      });
      const r = await step(ws, { command: "tasks", action: "list" });
      expect(r.status, r.stdout).toBe(0);
      expect(r.outputs["restored-artifact-id"]).toBe(String(good.id));
      expect(r.stdout).toMatch(
        /ignored artifact \d+ \(orchestrator-db-b\): uploaded by a run of a fork/,
      );
    });
  });

  describe("pull_request events (command: pr-merged)", () => {
    it("skips a pull request closed without merging, and a branch that is not a task branch", async () => {
      const ws = workspace();
      await step(ws, { command: "tasks", action: "import", args: "plan.yaml", init: "true" });
      const count = server.artifacts.size;
      const closed = await step(
        ws,
        { command: "pr-merged" },
        {
          eventName: "pull_request",
          event: mergedEvent("roadmap-implementation_task-db-schema", false),
        },
      );
      expect(closed.status).toBe(0);
      expect(closed.result).toEqual({ skipped: "the pull request was closed without merging" });
      const other = await step(
        ws,
        { command: "pr-merged" },
        { eventName: "pull_request", event: mergedEvent("feature/x") },
      );
      expect(other.result.skipped).toMatch(/not a task branch/);
      expect(server.artifacts.size).toBe(count);
    });

    it.each([
      "roadmap-implementation_task-../../etc",
      "roadmap-implementation_task-$(touch pwned)",
      "roadmap-implementation_task-",
      "roadmap-implementation_task---upload-pack=x",
    ])("refuses the hostile task branch %j", async (branch) => {
      const ws = workspace();
      await step(ws, { command: "tasks", action: "import", args: "plan.yaml", init: "true" });
      const count = server.artifacts.size;
      const r = await step(
        ws,
        { command: "pr-merged" },
        { eventName: "pull_request", event: mergedEvent(branch) },
      );
      expect(r.status).toBe(1);
      expect(r.outputs["error-code"]).toBe("InvalidInput");
      expect(server.artifacts.size).toBe(count);
      expect(existsSync(join(ws, "pwned"))).toBe(false);
    });

    it("fails with TaskNotFound for a task branch of an unknown task, uploading nothing", async () => {
      const ws = workspace();
      await step(ws, { command: "tasks", action: "import", args: "plan.yaml", init: "true" });
      const count = server.artifacts.size;
      const r = await step(
        ws,
        { command: "pr-merged" },
        { eventName: "pull_request", event: mergedEvent("roadmap-implementation_task-ghost") },
      );
      expect(r.status).toBe(1);
      expect(r.outputs["error-code"]).toBe("TaskNotFound");
      expect(server.artifacts.size).toBe(count);
    });
  });

  describe("matrix jobs journal their commands; a collect step applies them once", () => {
    it("journals from two jobs reach the database through collect, and a re-run applies nothing twice", async () => {
      const ws = workspace();
      await step(ws, { command: "tasks", action: "import", args: "plan.yaml", init: "true" });
      await step(ws, { command: "assign", "max-parallel": "3" });
      const dbCount = dbArtifacts().length;
      const runId = nextRun++;
      const a = await step(
        ws,
        {
          command: "tasks",
          action: "fail",
          args: "docs-outline",
          reason: "agent exited 1",
          journal: "true",
          "journal-key": "docs-outline",
        },
        { runId, job: "agent" },
      );
      expect(a.status, a.stdout).toBe(0);
      expect(a.result).toMatchObject({
        journaled: true,
        seq: 1,
        argv: ["tasks", "fail", "--reason=agent exited 1", "--", "docs-outline"],
      });
      const b = await step(
        ws,
        {
          command: "tasks",
          action: "complete",
          args: "ci-config",
          journal: "true",
          "journal-key": "ci-config",
        },
        { runId, job: "agent" },
      );
      expect(b.status, b.stdout).toBe(0);
      expect(dbArtifacts()).toHaveLength(dbCount); // matrix jobs never touch the database
      expect(
        [...server.artifacts.values()].filter((x) => x.name.startsWith("orchestrator-db-journal-")),
      ).toHaveLength(2);

      const collected = await step(ws, { command: "collect" }, { runId, job: "collect" });
      expect(collected.status, collected.stdout).toBe(0);
      expect(collected.result).toMatchObject({
        journals: 2,
        entries: 2,
        applied: 2,
        failed: 0,
        already_applied: 0,
      });
      expect(dbArtifacts()).toHaveLength(dbCount + 1);
      expect(collected.summary).toContain("Applied **2** of 2 journal entries");

      const again = await step(ws, { command: "collect", "run-id": String(runId) });
      expect(again.result).toMatchObject({ entries: 2, applied: 0, already_applied: 2 });
      expect(dbArtifacts()).toHaveLength(dbCount + 1); // nothing changed, nothing uploaded

      const listed = await step(ws, { command: "tasks", action: "list" });
      const status = Object.fromEntries(
        listed.result.tasks.map((t: { id: string; status: string }) => [t.id, t.status]),
      );
      expect(status).toMatchObject({ "docs-outline": "failed", "ci-config": "completed" });
    });

    it("refuses to journal a command that must run on the database itself, and refuses a forged journal", async () => {
      const ws = workspace();
      await step(ws, { command: "tasks", action: "import", args: "plan.yaml", init: "true" });
      const refused = await step(ws, { command: "assign", journal: "true" });
      expect(refused.status).toBe(1);
      expect(refused.stdout).toMatch(/`assign` cannot be journaled/);

      // A journal whose entry redirects the command to another database, or runs an import.
      const runId = nextRun++;
      const file = join(tempDir(), "journal.db");
      const db = new Database(file);
      db.exec(`CREATE TABLE journal_meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) STRICT;
        CREATE TABLE journal_entry (seq INTEGER PRIMARY KEY, recorded_at INTEGER NOT NULL, argv TEXT NOT NULL) STRICT;
        INSERT INTO journal_meta VALUES ('journal_id', '00000000-0000-4000-8000-000000000000');
        INSERT INTO journal_entry VALUES (1, 1, '["tasks","import","/etc/passwd"]');`);
      db.close();
      server.addArtifact({
        name: "orchestrator-db-journal-evil-1",
        runId,
        data: writeZip([{ name: "journal.db", data: readFileSync(file) }]),
      });
      await step(
        ws,
        { command: "tasks", action: "complete", args: "ci-config", journal: "true" },
        { runId, job: "agent" },
      );
      const collected = await step(ws, { command: "collect" }, { runId });
      expect(collected.status).toBe(1);
      expect(collected.outputs["error-code"]).toBe("JournalRejected");
      expect(collected.result).toMatchObject({
        applied: 1,
        rejected_journals: [{ name: "orchestrator-db-journal-evil-1" }],
      });
      // What was applied is saved before the step fails.
      expect(collected.outputs["artifact-id"]).toMatch(/^\d+$/);
    });
  });

  it("refuses an input that is no option of the command, naming the options it has", async () => {
    const ws = workspace();
    const seen = server.requests.length;
    const r = await step(ws, { command: "assign", "max-paralel": "2" });
    expect(r.status).toBe(1);
    expect(r.outputs["error-code"]).toBe("InvalidInput");
    expect(r.stdout).toMatch(
      /max-paralel is not an option of `assign`; its options: .*max-parallel/,
    );
    // Refused before anything was asked of GitHub.
    expect(server.requests.slice(seen)).toHaveLength(0);
  });

  it("maps the runner's input variables (hyphens kept) onto CLI options: max-parallel and task-ids", async () => {
    const ws = workspace();
    await step(ws, { command: "tasks", action: "import", args: "plan.yaml", init: "true" });
    const r = await step(ws, {
      command: "assign",
      "task-ids": "ci-config, docs-outline",
      "max-parallel": "1",
      "dry-run": "true",
    });
    expect(r.status, r.stdout).toBe(0);
    expect(r.result).toMatchObject({ max_parallel: 1, tasks_assigned: 1, dry_run: true });
    expect(r.result.assignments[0].task_id).toBe("docs-outline");
  });
});
