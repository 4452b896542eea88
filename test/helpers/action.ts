import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { ROOT } from "./cli.js";
import type { GitHubServer } from "./github-server.js";
import { tempDir } from "./tmp.js";

export const ACTION = join(ROOT, "packages", "action", "dist", "index.js");

export interface StepResult {
  status: number;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests reach into every command's result
  result: any;
}

export interface StepOptions {
  inputs: Record<string, string>;
  runId: number;
  runAttempt?: number;
  job?: string;
  workspace: string;
  eventName?: string;
  event?: unknown;
  /** Another Node binary (e.g. the runner's version). */
  node?: string;
  /** Another copy of the bundle (default: packages/action/dist/index.js). */
  entry?: string;
  env?: Record<string, string>;
}

/** GITHUB_OUTPUT's `name<<delimiter … delimiter` blocks. */
export function parseOutputs(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<]+)<<(.+)$/.exec(lines[i]!);
    if (!m) continue;
    const value: string[] = [];
    for (i++; i < lines.length && lines[i] !== m[2]; i++) value.push(lines[i]!);
    outputs[m[1]!] = value.join("\n");
  }
  return outputs;
}

/**
 * Runs the bundled action the way a runner does: `node dist/index.js` with `INPUT_*` variables
 * (name upper-cased, spaces to underscores, hyphens kept), fresh GITHUB_OUTPUT and
 * GITHUB_STEP_SUMMARY files, the event payload file, and GitHub's URLs pointing at the server.
 */
export async function runStep(server: GitHubServer, options: StepOptions): Promise<StepResult> {
  const entry = options.entry ?? ACTION;
  if (!existsSync(entry))
    throw new Error(`${entry} is missing: run \`pnpm build\` before the tests`);
  const dir = tempDir("orch-step-");
  const output = join(dir, "output");
  const summary = join(dir, "summary.md");
  writeFileSync(output, "");
  writeFileSync(summary, "");
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: dir,
    GITHUB_ACTIONS: "true",
    CI: "true",
    GITHUB_OUTPUT: output,
    GITHUB_STEP_SUMMARY: summary,
    GITHUB_REPOSITORY: "acme/widgets",
    GITHUB_REPOSITORY_OWNER: "acme",
    GITHUB_RUN_ID: String(options.runId),
    GITHUB_RUN_ATTEMPT: String(options.runAttempt ?? 1),
    GITHUB_JOB: options.job ?? "orchestrate",
    GITHUB_WORKFLOW: "orchestrate",
    GITHUB_WORKSPACE: options.workspace,
    GITHUB_SERVER_URL: "https://github.com",
    GITHUB_API_URL: server.url,
    ACTIONS_RESULTS_URL: `${server.url}/`,
    ACTIONS_RUNTIME_TOKEN: server.runtimeToken(options.runId, options.job ?? "orchestrate"),
    RUNNER_TEMP: tempDir("orch-runner-temp-"),
    ...options.env,
  };
  if (options.eventName) env.GITHUB_EVENT_NAME = options.eventName;
  if (options.event !== undefined) {
    env.GITHUB_EVENT_PATH = join(dir, "event.json");
    writeFileSync(env.GITHUB_EVENT_PATH, JSON.stringify(options.event));
  }
  const inputs = { "github-token": server.token, ...options.inputs };
  for (const [name, value] of Object.entries(inputs)) {
    env[`INPUT_${name.replace(/ /g, "_").toUpperCase()}`] = value;
  }
  const child = spawn(options.node ?? process.execPath, [entry], {
    cwd: options.workspace,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const status = await new Promise<number>((resolve) =>
    child.on("close", (code) => resolve(code ?? -1)),
  );
  const outputs = parseOutputs(readFileSync(output, "utf8"));
  let result: unknown;
  try {
    result = JSON.parse(outputs.result ?? "null");
  } catch {
    result = undefined;
  }
  return { status, stdout, stderr, outputs, summary: readFileSync(summary, "utf8"), result };
}

/**
 * The token appears once, in the runner's `::add-mask::` command on the first line, and
 * nowhere else: not in the log, not in stderr, not in any output, not in the summary. Its random
 * part is searched for too, so no escaping (`ghs\_…` in Markdown) or encoding hides a leak.
 */
export function expectTokenNeverWritten(r: StepResult, token: string): void {
  const lines = r.stdout.split("\n");
  expect(lines[0]).toBe(`::add-mask::${token}`);
  const secret = token.slice("ghs_".length);
  const base64 = Buffer.from(token).toString("base64").slice(0, 24);
  const rest = lines.slice(1).join("\n");
  // Any 10 characters of it in a row: a token cut in two must not leave a piece behind either.
  const pieces = Array.from({ length: secret.length - 9 }, (_, i) => secret.slice(i, i + 10));
  for (const [where, text] of [
    ["stdout", rest],
    ["stderr", r.stderr],
    ["GITHUB_STEP_SUMMARY", r.summary],
    ["GITHUB_OUTPUT", JSON.stringify(r.outputs)],
  ] as const) {
    for (const piece of pieces) expect(text, `${where} holds the token`).not.toContain(piece);
    expect(text, `${where} holds the token, base64-encoded`).not.toContain(base64);
  }
}
