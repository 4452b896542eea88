import { cpSync, existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACTION, runStep } from "./helpers/action.js";
import { ROOT } from "./helpers/cli.js";
import { tempRepo } from "./helpers/git.js";
import { GitHubServer } from "./helpers/github-server.js";
import { tempDir } from "./helpers/tmp.js";

/**
 * The bundle runs on the runner's Node (action.yml says node24; the development Node here is 24
 * too) and on Node 22, the oldest the project supports, when one is installed in .tools/node22
 * (`npm install --prefix .tools/node22 node@22`).
 */
const NODE22 = join(ROOT, ".tools", "node22", "node_modules", ".bin", "node");
const nodes: [string, string][] = [["development (runner: node24)", process.execPath]];
if (existsSync(NODE22)) nodes.push(["22", NODE22]);

let server: GitHubServer;
beforeAll(async () => {
  server = await new GitHubServer().start();
});
afterAll(() => server.stop());

describe("the bundled action on each Node version", () => {
  it("action.yml runs it on node24, and the development Node is 24", () => {
    expect(readFileSync(join(ROOT, "action.yml"), "utf8")).toMatch(
      /\n {2}using: node24\n {2}main: packages\/action\/dist\/index\.js\n/,
    );
    expect(process.versions.node.split(".")[0]).toBe("24");
  });

  it.each(nodes)(
    "Node %s: two runs, state carried, SQLite from the shipped prebuilt binary",
    async (_label, node) => {
      server.artifacts.clear();
      const ws = tempRepo();
      // The bundle alone, as a runner checks the action out: no node_modules anywhere above it.
      const entry = join(tempDir("orch-action-checkout-"), "dist", "index.js");
      cpSync(join(ACTION, ".."), join(entry, ".."), { recursive: true });
      const runId = 7000 + Math.floor(Math.random() * 1000);
      const first = await runStep(server, {
        inputs: { command: "tasks", action: "add", args: "first", title: "First", init: "true" },
        runId,
        workspace: ws,
        node,
        entry,
      });
      expect(first.status, first.stdout + first.stderr).toBe(0);
      const second = await runStep(server, {
        inputs: { command: "tasks", action: "list" },
        runId: runId + 1,
        workspace: ws,
        node,
        entry,
      });
      expect(second.status, second.stdout + second.stderr).toBe(0);
      expect(second.result.tasks.map((t: { id: string }) => t.id)).toEqual(["first"]);
    },
  );

  it("refuses clearly on a platform it ships no SQLite binary for", async () => {
    const entry = join(tempDir("orch-action-checkout-"), "dist", "index.js");
    cpSync(join(ACTION, ".."), join(entry, ".."), { recursive: true });
    rmSync(join(entry, "..", "prebuilds", `${process.platform}-${process.arch}.node`));
    const r = await runStep(server, {
      inputs: { command: "init", init: "true" },
      runId: 1,
      workspace: tempRepo(),
      entry,
    });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(
      new RegExp(`ships SQLite for .*, not for ${process.platform}-${process.arch}`),
    );
  });
});
