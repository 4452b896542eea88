import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runCli } from "./program.js";

const dirs: string[] = [];
function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), "orch-runcli-"));
  dirs.push(dir);
  return join(dir, "o.db");
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("runCli (the program in-process, as the GitHub Action runs it)", () => {
  it("returns the JSON document and exit status, and leaves the process's exit status alone", async () => {
    const db = tempDb();
    const out: string[] = [];
    const added = await runCli(["tasks", "add", "a", "--title", "A", "--db", db, "--json"], {
      stdout: (t) => out.push(t),
    });
    expect(added.exitCode).toBe(0);
    expect(added.document).toMatchObject({ ok: true, command: "tasks add", result: { id: "a" } });
    expect(JSON.parse(out.join(""))).toEqual(added.document);

    const missing = await runCli(["tasks", "complete", "ghost", "--db", db, "--json"]);
    expect(missing.exitCode).toBe(3);
    expect(missing.document).toMatchObject({ ok: false, error: { code: "TaskNotFound" } });
    expect(process.exitCode ?? 0).toBe(0);
  });

  it("reports usage mistakes as InvalidInput documents with exit 2, and text to the stderr sink", async () => {
    const db = tempDb();
    const bad = await runCli(["assign", "--max-parallel", "many", "--db", db, "--json"]);
    expect(bad.exitCode).toBe(2);
    expect(bad.document).toMatchObject({
      ok: false,
      command: "assign",
      error: { code: "InvalidInput" },
    });
    const err: string[] = [];
    const text = await runCli(["tasks", "show", "ghost", "--db", db], {
      stderr: (t) => err.push(t),
    });
    expect(text.exitCode).toBe(3);
    expect(text.document).toBeUndefined();
    expect(err.join("")).toMatch(/TaskNotFound/);
    expect(process.exitCode ?? 0).toBe(0);
  });

  it("resolves relative paths against the given cwd", async () => {
    const db = tempDb();
    const dir = join(db, "..");
    const r = await runCli(["init", "--db", "rel.db", "--json"], { cwd: dir });
    expect(r.document).toMatchObject({ ok: true, result: { db: join(dir, "rel.db") } });
  });
});
