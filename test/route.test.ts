// `orchestrator route …` end to end: the built CLI as a subprocess on a real database file.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli, cliAsync } from "./helpers/cli.js";
import { tempDir } from "./helpers/tmp.js";

function workspace(config = "") {
  const dir = tempDir("orch-route-e2e-");
  writeFileSync(
    join(dir, "orchestrator.config.yaml"),
    `agents:\n  architect: { command: [architect] }\n${config}`,
  );
  const base = ["--db", join(dir, "orchestrator.db"), "--repo", dir];
  const run = (args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}) =>
    cli([...base, ...args], options);
  return { dir, base, run };
}

const SEND = [
  "route",
  "send",
  "--from",
  "architect",
  "--to",
  "code_developer",
  "--type",
  "spec_ready",
];

describe("route (CLI)", () => {
  it("sends, polls, acknowledges and lists with the documented JSON", () => {
    const { run } = workspace();
    const sent = run([...SEND, "--content", '{"task_id":"auth-api"}', "--json"]);
    expect(sent.status).toBe(0);
    expect(sent.json).toEqual({ ok: true, command: "route send", result: { message_id: 1 } });

    const polled = run(["route", "poll", "--target", "code_developer", "--limit", "10", "--json"]);
    expect(polled.status).toBe(0);
    expect(polled.json.result).toEqual({
      messages: [
        {
          message_id: 1,
          receipt: expect.stringMatching(/^[0-9a-f]{32}$/),
          from: "architect",
          to: "code_developer",
          type: "spec_ready",
          content: { task_id: "auth-api" },
          attempt: 1,
        },
      ],
    });
    const receipt = polled.json.result.messages[0].receipt as string;

    const ack = ["route", "acknowledge", "--message-id", "1", "--receipt", receipt, "--json"];
    expect(run(ack).json).toEqual({
      ok: true,
      command: "route acknowledge",
      result: { message_id: 1, status: "acknowledged" },
    });
    expect(run(ack).json.result).toEqual({ message_id: 1, status: "acknowledged" }); // idempotent

    const listed = run(["route", "list", "--json"]);
    expect(listed.json.result.messages).toEqual([
      expect.objectContaining({ message_id: 1, status: "acknowledged", attempts: 1 }),
    ]);
    const text = run(["route", "list"]);
    expect(text.stdout).toMatch(/acknowledged\s+1\/3\s+architect/);
  });

  it("reports typed errors with their exit statuses", () => {
    const { run } = workspace();
    const unknown = run([
      ...SEND.slice(0, 4),
      "--to",
      "ghost",
      "--type",
      "x",
      "--content",
      "{}",
      "--json",
    ]);
    expect(unknown.status).toBe(3);
    expect(unknown.json.error.code).toBe("AgentNotFound");
    expect(unknown.json.error.message).toMatch(/neither an agent id nor a known agent type/);

    const malformed = run([...SEND, "--content", "{task_id: auth}", "--json"]);
    expect(malformed.status).toBe(2);
    expect(malformed.json.error).toMatchObject({
      code: "InvalidInput",
      details: { reason: "content_not_json" },
    });

    const big = run([...SEND, "--content", "-", "--json"], {
      input: JSON.stringify({ blob: "x".repeat(300 * 1024) }),
    });
    expect(big.status).toBe(2);
    expect(big.json.error.message).toMatch(/256 KiB/);

    run([...SEND, "--content", "{}"]);
    run(["route", "poll", "--target", "code_developer"]);
    const stale = run([
      "route",
      "acknowledge",
      "--message-id",
      "1",
      "--receipt",
      "000000000000000000000000",
      "--json",
    ]);
    expect(stale.status).toBe(11);
    expect(stale.json.error.code).toBe("StaleReceipt");
    const missing = run(["route", "retry", "--message-id", "99", "--json"]);
    expect(missing.status).toBe(3);
    expect(missing.json.error.code).toBe("MessageNotFound");
    const badDuration = run(["route", "poll", "--target", "code_developer", "--lease", "soon"]);
    expect(badDuration.status).toBe(2);
    expect(badDuration.stderr).toMatch(/duration/);
  });

  it("reads content from stdin and the agent's id from ORCHESTRATOR_AGENT_ID", () => {
    const { run } = workspace();
    const env = { ORCHESTRATOR_AGENT_ID: "architect" };
    const sent = run(
      ["route", "send", "--to", "architect", "--type", "status_update", "--content", "-", "--json"],
      { input: '{"progress": 50}\n', env },
    );
    expect(sent.status).toBe(0);
    const polled = run(["route", "poll", "--json"], { env });
    expect(polled.json.result.messages[0]).toMatchObject({
      from: "architect",
      to: "architect",
      content: { progress: 50 },
    });
    const noId = run(["route", "poll", "--json"], { env: { ORCHESTRATOR_AGENT_ID: "" } });
    expect(noId.status).toBe(2);
  });

  it("keeps a dead letter for list --status failed and puts it back with retry", () => {
    const { run } = workspace("messages: { max_attempts: 1 }\n");
    run([...SEND, "--content", '{"n":1}', "--idempotency-key", "k"]);
    expect(
      run([...SEND, "--content", '{"n":1}', "--idempotency-key", "k", "--json"]).json.result,
    ).toEqual({
      message_id: 1,
    });
    run(["route", "poll", "--target", "code_developer", "--lease", "1ms"]);
    const dead = run(["route", "list", "--status", "failed", "--json"]);
    expect(dead.json.result.messages).toEqual([
      expect.objectContaining({ message_id: 1, status: "failed", attempts: 1, max_attempts: 1 }),
    ]);
    const notice = run(["route", "poll", "--target", "architect", "--json"]);
    expect(notice.json.result.messages[0]).toMatchObject({
      type: "error_notification",
      content: { message_id: 1, status: "failed" },
    });
    expect(run(["route", "retry", "--message-id", "1", "--json"]).json.result).toEqual({
      message_id: 1,
      status: "pending",
    });
    expect(run(["route", "list", "--status", "failed", "--json"]).json.result.messages).toEqual([]);
    const fail = run(["route", "fail", "--message-id", "1", "--reason", "x", "--json"]);
    expect(fail.json.error.code).toBe("InvalidInput"); // pending: not delivered, nothing to fail
  });

  it("long-polls: returns as soon as a message is sent by another process", async () => {
    const { base, run } = workspace();
    const waiting = cliAsync([
      ...base,
      "route",
      "poll",
      "--target",
      "code_developer",
      "--wait",
      "30s",
      "--json",
    ]);
    await new Promise((r) => setTimeout(r, 800));
    const sentAt = Date.now();
    run([...SEND, "--content", '{"n":1}']);
    const result = await waiting.done;
    expect(result.status).toBe(0);
    expect(result.json.result.messages).toHaveLength(1);
    expect(Date.now() - sentAt).toBeLessThan(5_000);

    const started = Date.now();
    const empty = run(["route", "poll", "--target", "code_developer", "--wait", "300ms", "--json"]);
    expect(empty.json.result).toEqual({ messages: [] });
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
  });

  it("documents every sub-command with an example", () => {
    for (const sub of ["send", "poll", "acknowledge", "fail", "list", "retry"]) {
      const help = cli(["route", sub, "--help"]);
      expect(help.status).toBe(0);
      expect(help.stdout).toMatch(/Example:\n {2}\$ orchestrator route /);
    }
  });
});
