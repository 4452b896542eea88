import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { openDatabase, SCHEMA_VERSION } from "@orchestrator/db";
import type Database from "better-sqlite3";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { writeZip } from "../packages/action/src/zip.js";
import {
  expectTokenNeverWritten as expectTokenNeverWritten_,
  runStep,
  type StepOptions,
  type StepResult,
} from "./helpers/action.js";
import { tempRepo } from "./helpers/git.js";
import { type Fault, GitHubServer, REPOSITORY_ID } from "./helpers/github-server.js";
import { tempDir } from "./helpers/tmp.js";

/**
 * The action's security review, proven against the bundled action run as a runner runs it: the
 * token never leaves the step in any form, whatever the server answers; hostile artifacts are
 * refused before any command opens them, with a clear error and nothing uploaded.
 */
let server: GitHubServer;
let nextRun = 5000;
beforeAll(async () => {
  server = await new GitHubServer().start();
});
afterAll(() => server.stop());
afterEach(() => {
  server.artifacts.clear();
  server.fault = undefined;
  server.blobLocation = undefined;
});

const step = (inputs: Record<string, string>, more: Partial<StepOptions> = {}) =>
  runStep(server, {
    inputs,
    runId: more.runId ?? nextRun++,
    workspace: more.workspace ?? tempRepo(),
    ...more,
  });

const expectTokenNeverWritten = (r: StepResult) => expectTokenNeverWritten_(r, server.token);

const twirpUploads = (since: number) =>
  server.requests.slice(since).filter((q) => q.url.includes("ArtifactService/CreateArtifact"));

/** A real orchestrator database (schema from the migrations), changed by `mutate`. */
function databaseBytes(mutate?: (db: Database.Database) => void): Buffer {
  const file = join(tempDir(), "orchestrator.db");
  const db = openDatabase(file);
  db.prepare(
    "INSERT INTO orchestrator_meta (key, value) VALUES ('artifact.generation', '1')",
  ).run();
  mutate?.(db);
  db.close();
  return readFileSync(file);
}

const databaseZip = (mutate?: (db: Database.Database) => void) =>
  writeZip([{ name: "orchestrator.db", data: databaseBytes(mutate) }]);

describe("the token is masked and never written, whatever GitHub answers", () => {
  const echo = () => ({
    "www-authenticate": `token ${server.token}`,
    "x-echo-authorization": `token ${server.token}`,
  });
  const cases: [string, () => Fault | undefined, RegExp, { artifact?: boolean; env?: boolean }][] =
    [
      [
        "401 listing artifacts, the token echoed in the body and headers",
        () => ({
          status: 401,
          body: JSON.stringify({ message: `Bad credentials: token ${server.token}` }),
          headers: echo(),
        }),
        /listing the artifacts named orchestrator-db failed: GitHub answered 401: Bad credentials: token \*\*\*.*invalid or expired/,
        {},
      ],
      [
        "403 listing artifacts, the token in the message and a base64 Authorization echo",
        () => ({
          status: 403,
          body: JSON.stringify({
            message: `Resource not accessible by integration (${server.token}; basic ${Buffer.from(server.token).toString("base64")})`,
          }),
          headers: echo(),
        }),
        /GitHub answered 403: Resource not accessible by integration \(\*\*\*; basic \*\*\*.*actions: read/,
        {},
      ],
      [
        "500 listing artifacts, a plain-text body holding the token",
        () => ({
          status: 500,
          contentType: "text/plain",
          body: `internal error for Authorization: token ${server.token}`,
          headers: echo(),
        }),
        /GitHub answered 500: internal error for Authorization: token \*\*\*/,
        {},
      ],
      [
        "422 listing artifacts, a long message whose cut would go through the token",
        () => ({
          status: 422,
          body: JSON.stringify({ message: `${"x".repeat(480)} ${server.token} and more` }),
        }),
        /GitHub answered 422: x{480} \*\*\* and more/,
        {},
      ],
      [
        "502 from the download endpoint, the token in the body",
        () => undefined, // set below: only the download endpoint fails
        /downloading artifact \d+ failed: GitHub answered 502: .*\*\*\*/,
        { artifact: true },
      ],
    ];
  it.each(cases)("%s", async (_label, fault, message, options) => {
    if (options.artifact) {
      server.addArtifact({ name: "orchestrator-db", runId: 1, data: databaseZip() });
      server.fault = ({ path }) =>
        path.endsWith("/zip")
          ? {
              status: 502,
              contentType: "text/html",
              body: `<html>Bad gateway while serving ${server.token}</html>`,
              headers: echo(),
            }
          : undefined;
    } else {
      server.fault = ({ path }) => (path.includes("/actions/") ? fault() : undefined);
    }
    const seen = server.requests.length;
    const r = await step({ command: "tasks", action: "list" });
    expect(r.status).toBe(1);
    expect(r.outputs).toMatchObject({ ok: "false", "error-code": "ActionError", result: "null" });
    expect(r.stdout).toMatch(message); // the server's echo reached the message, redacted
    expect(r.summary).toContain("\\*\\*\\*");
    expectTokenNeverWritten(r);
    expect(twirpUploads(seen)).toHaveLength(0);
  });

  it("a failing blob download behind a redirect that carries the token: the token never goes to blob storage", async () => {
    server.addArtifact({ name: "orchestrator-db", runId: 1, data: databaseZip() });
    server.blobLocation = (id) => `${server.url}/blob/download/${id}?sig=${server.token}`;
    server.fault = ({ path }) =>
      path.startsWith("/blob/download/")
        ? { status: 502, body: `upstream failed for sig=${server.token}`, headers: echo() }
        : undefined;
    const seen = server.requests.length;
    const r = await step({ command: "tasks", action: "list" });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/downloading artifact \d+ failed: blob storage answered 502/);
    expectTokenNeverWritten(r);
    const blob = server.requests.slice(seen).filter((q) => q.url.startsWith("/blob/download/"));
    expect(blob).toHaveLength(1);
    expect(blob[0]!.authorization).toBeUndefined();
  });

  it("403 from the runner's artifact service on upload, its message echoing the token", async () => {
    server.fault = ({ path }) =>
      path.endsWith("/CreateArtifact")
        ? {
            status: 403,
            body: JSON.stringify({ code: "permission_denied", msg: `denied for ${server.token}` }),
          }
        : undefined;
    const r = await step({ command: "init", init: "true" });
    expect(r.status).toBe(1);
    expect(r.outputs["error-code"]).toBe("ActionError");
    expect(r.stdout).toMatch(/denied for \*\*\*/);
    expectTokenNeverWritten(r);
    expect(server.artifacts.size).toBe(0);
  });

  it.each([
    ["a refused connection", { env: { GITHUB_API_URL: "http://127.0.0.1:1" } }, undefined],
    ["a connection dropped mid-request", {}, "reset" as const],
  ])("a network error: %s", async (_label, more, fault) => {
    if (fault) server.fault = () => fault;
    const r = await step({ command: "tasks", action: "list" }, more);
    expect(r.status).toBe(1);
    expect(r.outputs["error-code"]).toBe("ActionError");
    expect(r.stdout).toMatch(
      /listing the artifacts named orchestrator-db failed: .*(fetch failed|ECONNREFUSED|socket|closed|terminated)/,
    );
    expectTokenNeverWritten(r);
  });

  it("a command's own result that quotes the token is redacted in the outputs and the summary", async () => {
    const ws = tempRepo();
    const r = await step(
      {
        command: "tasks",
        action: "add",
        args: "leak",
        title: `oops ${server.token}`,
        init: "true",
      },
      { workspace: ws },
    );
    expect(r.status, r.stdout).toBe(0);
    expect(r.outputs.result).toContain("oops ***");
    expectTokenNeverWritten(r);
  });

  it("processes the command starts (an agent) inherit neither the token nor the runner's tokens", async () => {
    const ws = tempRepo();
    const dump = join(tempDir("orch-env-"), "env.json");
    writeFileSync(
      join(ws, "orchestrator.config.yaml"),
      `integration_branch: main\nworktree_root: ${JSON.stringify(tempDir("orch-wt-"))}\nagents:\n  code_developer:\n    command: ["node", "-e", ${JSON.stringify(
        `require("node:fs").writeFileSync(${JSON.stringify(dump)}, JSON.stringify(process.env))`,
      )}]\n`,
    );
    const added = await step(
      { command: "tasks", action: "add", args: "envcheck", title: "Env", init: "true" },
      { workspace: ws },
    );
    expect(added.status, added.stdout).toBe(0);
    const assigned = await step({ command: "assign" }, { workspace: ws });
    expect(assigned.outputs["has-work"], assigned.stdout).toBe("true");
    const spawned = await step(
      { command: "agents", action: "spawn", "agent-type": "code_developer", "task-id": "envcheck" },
      { workspace: ws },
    );
    const log = /see its log ([^\s"]+\.log)/.exec(spawned.stdout)?.[1];
    expect(spawned.status, spawned.stdout + (log ? readFileSync(log, "utf8") : "")).toBe(0);
    for (let i = 0; i < 100 && !existsSync(dump); i++) await sleep(100);
    const env = JSON.parse(readFileSync(dump, "utf8")) as Record<string, string>;
    expect(env.ORCHESTRATOR_TASK_ID).toBe("envcheck"); // it is the agent's environment
    expect(Object.keys(env).filter((k) => k.startsWith("INPUT_"))).toEqual([]);
    expect(env.ACTIONS_RUNTIME_TOKEN).toBeUndefined();
    expect(env.ACTIONS_RESULTS_URL).toBeUndefined();
    expect(JSON.stringify(env)).not.toContain(server.token);
    expectTokenNeverWritten(spawned);
  });
});

describe("a hostile database artifact is refused before any command opens it, and nothing is uploaded", () => {
  const sqlite = Buffer.concat([Buffer.from("SQLite format 3\0", "latin1"), Buffer.alloc(4000)]);
  const cases: [string, () => Buffer, RegExp, Record<string, string>?, number?][] = [
    [
      "a path out of the directory (../orchestrator.db)",
      () => writeZip([{ name: "../orchestrator.db", data: sqlite }]),
      /the archive's file is "\.\.\/orchestrator\.db", expected orchestrator\.db/,
    ],
    [
      "an absolute path (/orchestrator.db)",
      () => writeZip([{ name: "/orchestrator.db", data: sqlite }]),
      /the archive's file is "\/orchestrator\.db", expected orchestrator\.db/,
    ],
    [
      "a symbolic link named orchestrator.db",
      () =>
        writeZip([{ name: "orchestrator.db", data: Buffer.from("/etc/passwd"), mode: 0o120777 }]),
      /orchestrator\.db is a symbolic link/,
    ],
    [
      "an extra file beside the database",
      () =>
        writeZip([
          { name: "orchestrator.db", data: databaseBytes() },
          { name: "notes.txt", data: Buffer.from("hi") },
        ]),
      /exactly one file \(orchestrator\.db\); it holds 2 entries/,
    ],
    [
      "an extra directory entry",
      () =>
        writeZip([
          { name: "orchestrator.db", data: databaseBytes() },
          { name: "x/", data: Buffer.alloc(0) },
        ]),
      /exactly one file \(orchestrator\.db\); it holds 2 entries/,
    ],
    [
      "a zip bomb declaring a huge uncompressed size",
      () =>
        writeZip([
          { name: "orchestrator.db", data: sqlite, deflate: true, declaredSize: 0xfffffff0 },
        ]),
      /orchestrator\.db is 4294967280 bytes, above the limit of 1048576/,
      { "max-db-size": "1MiB" },
    ],
    [
      "a zip bomb declaring a small size that inflates past the limit",
      () =>
        writeZip([
          {
            name: "orchestrator.db",
            data: Buffer.concat([sqlite, Buffer.alloc(64 * 1024 * 1024)]),
            deflate: true,
            declaredSize: 4096,
          },
        ]),
      /could not be inflated within 1048576 bytes/,
      { "max-db-size": "1MiB" },
    ],
    [
      "an archive bigger than its listing says, streamed without a length",
      () => writeZip([{ name: "orchestrator.db", data: Buffer.alloc(3 * 1024 * 1024, 1) }]),
      /sent more than the limit of 1048576 bytes; download stopped/,
      { "max-db-size": "1MiB" },
      1000,
    ],
    [
      "a file without the SQLite header",
      () => writeZip([{ name: "orchestrator.db", data: Buffer.alloc(4096, 0x41) }]),
      /orchestrator\.db is not a SQLite database/,
    ],
    [
      "a database that fails SQLite's integrity check",
      () => {
        let root = 0;
        const data = databaseBytes((db) => {
          const add = db.prepare(
            "INSERT INTO orchestrator_event (at, kind, detail) VALUES (?, 'x', ?)",
          );
          for (let i = 0; i < 400; i++) add.run(i, "m".repeat(200));
          root = db
            .prepare("SELECT rootpage FROM sqlite_master WHERE name = 'orchestrator_event'")
            .pluck()
            .get() as number;
        });
        // The table's root is an interior page (80 KB of rows): its right-most child pointer
        // (header bytes 8-11) now names a page far past the end of the file. The SQLite header
        // and every other page are intact.
        expect(data[(root - 1) * 4096]).toBe(0x05);
        data.writeUInt32BE(99_999, (root - 1) * 4096 + 8);
        return writeZip([{ name: "orchestrator.db", data }]);
      },
      /is refused: integrity check: .*(invalid page number 99999|99999)/,
    ],
    [
      "a database from a newer orchestrator",
      () => databaseZip((db) => db.pragma(`user_version = ${SCHEMA_VERSION + 1}`)),
      new RegExp(
        `schema version ${SCHEMA_VERSION + 1}; this orchestrator reads 1 to ${SCHEMA_VERSION}`,
      ),
    ],
    [
      "a database carrying an extra trigger",
      () =>
        databaseZip((db) =>
          db.exec(
            "CREATE TRIGGER evil AFTER INSERT ON specs_task BEGIN DELETE FROM specs_task; END;",
          ),
        ),
      /schema is not the orchestrator's schema version \d+: trigger evil unexpected/,
    ],
    [
      "a database missing a table",
      () => databaseZip((db) => db.exec("DROP TABLE agent_restart_log")),
      /table agent_restart_log missing/,
    ],
  ];

  it.each(cases)("%s", async (_label, make, message, inputs = {}, listedSize) => {
    const ws = tempRepo();
    server.addArtifact({
      name: "orchestrator-db",
      runId: 1,
      data: make(),
      ...(listedSize !== undefined ? { listedSize } : {}),
    });
    const before = server.artifacts.size;
    const seen = server.requests.length;
    const r = await step(
      { command: "tasks", action: "add", args: "x", title: "X", ...inputs },
      {
        workspace: ws,
      },
    );
    expect(r.status).toBe(1);
    expect(r.outputs).toMatchObject({
      ok: "false",
      "error-code": "DatabaseRejected",
      result: "null",
    });
    expect(r.stdout).toMatch(
      /::error title=orchestrator tasks add%3A DatabaseRejected::artifact \d+/,
    );
    expect(r.stdout).toMatch(message);
    expect(r.summary).toContain("DatabaseRejected");
    // The command never ran, nothing was uploaded, nothing was written outside the temp dir.
    expect(r.stdout).not.toMatch(/orchestrator tasks add /);
    expect(server.artifacts.size).toBe(before);
    expect(twirpUploads(seen)).toHaveLength(0);
    expect(r.outputs["artifact-id"]).toBeUndefined();
    expect(existsSync(join(ws, "..", "orchestrator.db"))).toBe(false);
    expectTokenNeverWritten(r);
  });

  it("db-artifact-id: a database artifact uploaded after the expected one (e.g. by an agent job of the run) is refused", async () => {
    const ws = tempRepo();
    const runId = nextRun++;
    const plan = await step(
      { command: "tasks", action: "add", args: "a", title: "A", init: "true" },
      { workspace: ws, runId },
    );
    expect(plan.status, plan.stdout).toBe(0);
    expect(plan.outputs["db-artifact-id"]).toBe(plan.outputs["artifact-id"]);
    // A job of the same run uploads a well-formed database of its own.
    server.addArtifact({ name: "orchestrator-db-b", runId, data: databaseZip() });
    const before = server.artifacts.size;
    const seen = server.requests.length;
    const collect = await step(
      {
        command: "tasks",
        action: "complete",
        args: "a",
        "db-artifact-id": plan.outputs["db-artifact-id"]!,
      },
      { workspace: ws, runId },
    );
    expect(collect.status).toBe(1);
    expect(collect.outputs["error-code"]).toBe("DatabaseConflict");
    expect(collect.stdout).toMatch(
      new RegExp(
        `not artifact ${plan.outputs["db-artifact-id"]} \\(db-artifact-id\\).*nothing was restored`,
      ),
    );
    expect(server.artifacts.size).toBe(before);
    expect(twirpUploads(seen)).toHaveLength(0);
    expect(server.requests.slice(seen).some((q) => q.url.startsWith("/blob/download/"))).toBe(
      false,
    );
    // Without the forged one, the expected artifact is restored.
    server.artifacts.delete(Math.max(...server.artifacts.keys()));
    const ok = await step(
      {
        command: "tasks",
        action: "complete",
        args: "a",
        "db-artifact-id": plan.outputs["db-artifact-id"]!,
      },
      { workspace: ws, runId },
    );
    expect(ok.status, ok.stdout).toBe(0);
    expect(ok.outputs["restored-artifact-id"]).toBe(plan.outputs["db-artifact-id"]);
    expect(ok.outputs["db-artifact-id"]).toBe(ok.outputs["artifact-id"]);
  });

  it("a journal uploaded by a fork's pull request run (or of unknown origin) is refused by collect", async () => {
    const ws = tempRepo();
    const runId = nextRun++;
    const init = await step(
      { command: "tasks", action: "add", args: "a", title: "A", init: "true" },
      { workspace: ws },
    );
    expect(init.status, init.stdout).toBe(0);
    const journal = await step(
      { command: "tasks", action: "complete", args: "a", journal: "true", "journal-key": "a" },
      { workspace: ws, runId, job: "publish" },
    );
    expect(journal.status, journal.stdout).toBe(0);
    const uploaded = [...server.artifacts.values()].find((a) => a.runId === runId)!;
    uploaded.headRepositoryId = REPOSITORY_ID + 1;
    const collected = await step({ command: "collect" }, { workspace: ws, runId });
    expect(collected.status).toBe(1);
    expect(collected.outputs["error-code"]).toBe("JournalRejected");
    expect(collected.result).toMatchObject({
      applied: 0,
      rejected_journals: [{ reason: expect.stringMatching(/fork's pull request/) }],
    });
    expectTokenNeverWritten(collected);
  });

  it("the same database, unharmed, is restored: the refusals above are about their flaws", async () => {
    server.addArtifact({ name: "orchestrator-db", runId: 1, data: databaseZip() });
    const seen = server.requests.length;
    const r = await step({ command: "tasks", action: "add", args: "x", title: "X" });
    expect(r.status, r.stdout).toBe(0);
    expect(r.outputs.generation).toBe("2");
    expect(twirpUploads(seen)).toHaveLength(1);
    expectTokenNeverWritten(r);
  });
});
