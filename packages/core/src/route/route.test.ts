import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { refusal } from "../../../../test/helpers/orchestrator.js";
import { tempDir } from "../../../../test/helpers/tmp.js";
import { assign } from "../assign/index.js";
import { type Orchestrator, openOrchestrator } from "../context.js";
import { OrchestratorError } from "../errors.js";
import { importPlan, parsePlan } from "../tasks/index.js";
import { nestingDepth } from "./content.js";
import {
  acknowledgeMessage,
  acknowledgeMessages,
  backoffDelay,
  failMessage,
  listMessages,
  MAX_CONTENT_BYTES,
  pollMessages,
  retryMessage,
  sendMessage,
  sendMessages,
  waitForMessages,
} from "./index.js";
import { renderList, renderPoll } from "./render.js";

const T0 = Date.parse("2026-01-01T00:00:00Z");
const opened: Orchestrator[] = [];

afterEach(() => {
  for (const o of opened.splice(0)) o.close();
});

interface Setup {
  o: Orchestrator;
  clock: { now: number };
  dir: string;
  db: string;
}

/** A real database file in a temp dir, a config file, and a clock the test moves. */
function setup(config = "", dir = tempDir("orch-route-")): Setup {
  writeFileSync(
    join(dir, "orchestrator.config.yaml"),
    `agents:\n  architect: { command: [architect] }\n  reviewer: { command: [reviewer], max_instances: 4 }\n${config}`,
  );
  const clock = { now: T0 };
  const db = join(dir, "orchestrator.db");
  const o = openOrchestrator({ db, repo: dir, now: () => clock.now });
  opened.push(o);
  return { o, clock, dir, db };
}

function addAgent(o: Orchestrator, agentId: string, agentType: string, status = "running") {
  o.db
    .prepare(
      `INSERT INTO agent_lifecycle (agent_id, agent_type, singleton, status, started_at, updated_at)
       VALUES (?, ?, 0, ?, ?, ?)`,
    )
    .run(agentId, agentType, status, T0, T0);
}

const send = (o: Orchestrator, content: unknown = { n: 1 }, extra: object = {}) =>
  sendMessage(o, {
    from: "architect",
    to: "code_developer",
    type: "spec_ready",
    content: JSON.stringify(content),
    ...extra,
  }).message_id;

const row = (o: Orchestrator, id: number) => o.messages.get(id)!;

describe("send, poll, acknowledge", () => {
  it("delivers a message with exactly the documented fields and acknowledges it", () => {
    const { o } = setup();
    const id = send(o, { task_id: "auth-api" });
    const polled = pollMessages(o, { target: "code_developer" });
    expect(polled.messages).toHaveLength(1);
    const m = polled.messages[0]!;
    expect(Object.keys(m).sort()).toEqual(
      ["attempt", "content", "from", "message_id", "receipt", "to", "type"].sort(),
    );
    expect(m).toMatchObject({
      message_id: id,
      from: "architect",
      to: "code_developer",
      type: "spec_ready",
      content: { task_id: "auth-api" },
      attempt: 1,
    });
    expect(m.receipt).toMatch(/^[0-9a-f]{32}$/);
    expect(row(o, id).status).toBe("delivered");
    expect(pollMessages(o, { target: "code_developer" }).messages).toEqual([]);

    const ack = acknowledgeMessage(o, { messageId: id, receipt: m.receipt });
    expect(ack).toEqual({ message_id: id, status: "acknowledged" });
    expect(row(o, id).status).toBe("acknowledged");
    // Idempotent: the same acknowledgement again is the same result.
    expect(acknowledgeMessage(o, { messageId: id, receipt: m.receipt })).toEqual(ack);
    // The row is the record of the send: no event per message.
    expect(o.events.since(0).filter((e) => e.message_id === id)).toEqual([]);
    expect(o.messages.sentSince(0)).toBe(1);
  });

  it("orders by priority, then first in first out, and honours --limit", () => {
    const { o } = setup();
    const low = send(o, { n: "low" }, { priority: "low" });
    const a = send(o, { n: "a" });
    const high = send(o, { n: "high" }, { priority: "high" });
    const b = send(o, { n: "b" });
    const first = pollMessages(o, { target: "code_developer", limit: 3 });
    expect(first.messages.map((m) => m.message_id)).toEqual([high, a, b]);
    expect(
      pollMessages(o, { target: "code_developer", limit: 3 }).messages.map((m) => m.message_id),
    ).toEqual([low]);
  });

  it("keeps assign's task_assignment messages deliverable to the agent type", () => {
    const { o } = setup();
    importPlan(
      o,
      parsePlan({ tasks: [{ id: "auth-api", title: "Auth API", agent_type: "backend" }] }, "test"),
    );
    const result = assign(o, {});
    expect(result.assignments[0]!.message_id).not.toBeNull();
    const polled = pollMessages(o, { target: "backend" });
    expect(polled.messages).toHaveLength(1);
    expect(polled.messages[0]).toMatchObject({
      from: "orchestrator",
      to: "backend",
      type: "task_assignment",
      content: { task_id: "auth-api" },
    });
  });
});

describe("batches", () => {
  const message = (n: number, to = "code_developer") => ({
    from: "architect",
    to,
    type: "spec_ready",
    content: JSON.stringify({ n }),
  });

  it("sends a batch in one transaction and in order, or nothing when one message is refused", () => {
    const { o } = setup();
    const ids = sendMessages(o, [message(1), message(2), message(3)]).map((r) => r.message_id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    const polled = pollMessages(o, { target: "code_developer", limit: 10 }).messages;
    expect(polled.map((m) => [m.message_id, m.content])).toEqual(
      ids.map((id, i) => [id, { n: i + 1 }]),
    );

    const before = o.db.prepare("SELECT count(*) AS n FROM agent_message").get();
    const refused = refusal(() => sendMessages(o, [message(4), message(5, "nobody-here")]));
    expect(refused.code).toBe("AgentNotFound");
    expect(refused.details).toMatchObject({ name: "nobody-here" });
    expect(o.db.prepare("SELECT count(*) AS n FROM agent_message").get()).toEqual(before);
    expect(refusal(() => sendMessages(o, [message(6), { ...message(7), content: "{" }])).code).toBe(
      "InvalidInput",
    );
    expect(o.db.prepare("SELECT count(*) AS n FROM agent_message").get()).toEqual(before);
  });

  it("acknowledges a batch, returning a refused receipt as its error without stopping the others", () => {
    const { o, clock } = setup();
    const [a, b, c] = sendMessages(o, [message(1), message(2), message(3)]).map(
      (r) => r.message_id,
    );
    const polled = pollMessages(o, { target: "code_developer", limit: 10 }).messages;
    const receipt = (id: number) => polled.find((m) => m.message_id === id)!.receipt;
    clock.now += 1;
    const outcomes = acknowledgeMessages(o, [
      { messageId: a!, receipt: receipt(a!) },
      { messageId: b!, receipt: "not-the-receipt" },
      { messageId: 999_999, receipt: "x" },
      { messageId: c!, receipt: receipt(c!) },
    ]);
    expect(outcomes[0]).toEqual({ message_id: a, status: "acknowledged" });
    expect(outcomes[1]).toBeInstanceOf(OrchestratorError);
    expect((outcomes[1] as OrchestratorError).code).toBe("StaleReceipt");
    expect((outcomes[2] as OrchestratorError).code).toBe("MessageNotFound");
    expect(outcomes[3]).toEqual({ message_id: c, status: "acknowledged" });
    // The same message twice in one batch: each entry is judged by its own receipt.
    const [again, forged] = acknowledgeMessages(o, [
      { messageId: a!, receipt: receipt(a!) },
      { messageId: a!, receipt: "forged" },
    ]);
    expect(again).toEqual({ message_id: a, status: "acknowledged" });
    expect((forged as OrchestratorError).code).toBe("StaleReceipt");
    expect([a, b, c].map((id) => row(o, id!).status)).toEqual([
      "acknowledged",
      "delivered",
      "acknowledged",
    ]);
    // The single-message form throws the same refusal.
    expect(refusal(() => acknowledgeMessage(o, { messageId: b!, receipt: "nope" })).code).toBe(
      "StaleReceipt",
    );
  });
});

describe("leases, backoff and dead letters", () => {
  it("redelivers after the lease ends, with backoff base·2^(attempt-1) plus jitter", () => {
    const { o, clock } = setup("messages: { backoff_base: 1s, backoff_max: 1m }\n");
    const id = send(o);
    const first = pollMessages(o, { target: "code_developer", lease: 10_000 }).messages[0]!;
    clock.now += 9_999;
    expect(pollMessages(o, { target: "code_developer" }).messages).toEqual([]); // lease holds
    clock.now += 1; // the lease ends
    expect(pollMessages(o, { target: "code_developer" }).messages).toEqual([]); // in backoff
    const afterFirst = row(o, id);
    expect(afterFirst.status).toBe("pending");
    expect(afterFirst.attempts).toBe(1);
    const delay1 = afterFirst.available_at - clock.now;
    expect(delay1).toBeGreaterThanOrEqual(1_000);
    expect(delay1).toBeLessThanOrEqual(1_250);
    expect(afterFirst.last_error).toMatch(/lease ended/);

    clock.now = afterFirst.available_at - 1;
    expect(pollMessages(o, { target: "code_developer" }).messages).toEqual([]);
    clock.now += 1;
    const second = pollMessages(o, { target: "code_developer", lease: 10_000 }).messages[0]!;
    expect(second).toMatchObject({ message_id: id, attempt: 2 });
    expect(second.receipt).not.toBe(first.receipt);

    clock.now += 10_000;
    pollMessages(o, { target: "code_developer" });
    const afterSecond = row(o, id);
    const delay2 = afterSecond.available_at - clock.now;
    expect(delay2).toBeGreaterThanOrEqual(2_000);
    expect(delay2).toBeLessThanOrEqual(2_500);
  });

  it("dead-letters after the 3rd unacknowledged attempt, keeps it, and tells the sender", () => {
    const { o, clock } = setup("messages: { backoff_base: 100ms, backoff_max: 1s }\n");
    addAgent(o, "architect-1", "architect");
    const id = sendMessage(o, {
      from: "architect-1",
      to: "code_developer",
      type: "spec_ready",
      content: '{"task_id":"auth-api"}',
    }).message_id;
    for (let attempt = 1; attempt <= 3; attempt++) {
      clock.now += 60_000;
      const got = pollMessages(o, { target: "code_developer", lease: 1_000 }).messages;
      expect(got.map((m) => [m.message_id, m.attempt])).toEqual([[id, attempt]]);
    }
    clock.now += 1_000;
    expect(pollMessages(o, { target: "code_developer" }).messages).toEqual([]);
    const dead = row(o, id);
    expect(dead.status).toBe("failed");
    expect(dead.attempts).toBe(3);
    expect(listMessages(o, { status: "failed" }).messages.map((m) => m.message_id)).toEqual([id]);

    // The sender is an agent incarnation: the notice goes to it, not to its type.
    const notices = pollMessages(o, { target: "architect-1" }).messages;
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatchObject({
      from: "orchestrator",
      to: "architect-1",
      type: "error_notification",
      content: { message_id: id, status: "failed", to: "code_developer", attempts: 3 },
    });
    expect(o.events.since(0).some((e) => e.kind === "message_dead_lettered")).toBe(true);

    // retry puts the dead letter back with fresh attempts.
    expect(retryMessage(o, { messageId: id })).toEqual({ message_id: id, status: "pending" });
    const again = pollMessages(o, { target: "code_developer" }).messages;
    expect(again.map((m) => [m.message_id, m.attempt])).toEqual([[id, 1]]);
    expect(refusal(() => retryMessage(o, { messageId: id })).code).toBe("InvalidInput");
  });

  it("route fail retries with backoff, and dead-letters on the last attempt", () => {
    const { o, clock } = setup("messages: { max_attempts: 2, backoff_base: 1s }\n");
    const id = send(o);
    const first = pollMessages(o, { target: "code_developer" }).messages[0]!;
    const failed = failMessage(o, { messageId: id, receipt: first.receipt, reason: "no spec" });
    expect(failed).toMatchObject({ message_id: id, status: "pending", attempts: 1 });
    expect(Date.parse(failed.next_attempt_at!) - clock.now).toBeGreaterThanOrEqual(1_000);
    expect(row(o, id).last_error).toMatch(/no spec/);
    // A stale receipt can no longer fail it.
    expect(
      refusal(() => failMessage(o, { messageId: id, receipt: first.receipt, reason: "x" })).code,
    ).toBe("StaleReceipt");

    clock.now += 5_000;
    const second = pollMessages(o, { target: "code_developer" }).messages[0]!;
    expect(second.attempt).toBe(2);
    const last = failMessage(o, { messageId: id, receipt: second.receipt, reason: "still none" });
    expect(last).toMatchObject({ status: "failed", attempts: 2, next_attempt_at: null });
    expect(row(o, id).status).toBe("failed");
    // The sender (a type here) is told.
    const notice = pollMessages(o, { target: "architect" }).messages;
    expect(notice[0]).toMatchObject({ type: "error_notification", content: { message_id: id } });
    // Failing the same delivery again is idempotent.
    expect(failMessage(o, { messageId: id, receipt: second.receipt, reason: "again" }).status).toBe(
      "failed",
    );
  });

  it("refuses a stale receipt: a slow receiver cannot acknowledge a redelivered message", () => {
    const { o, clock } = setup("messages: { backoff_base: 1s }\n");
    const id = send(o);
    const slow = pollMessages(o, { target: "code_developer", lease: 5_000 }).messages[0]!;
    clock.now += 5_000;
    // The lease has ended: even before anyone else polls, its receipt is refused.
    const expired = refusal(() => acknowledgeMessage(o, { messageId: id, receipt: slow.receipt }));
    expect(expired.code).toBe("StaleReceipt");
    expect(expired.exitCode).toBe(11);
    expect(expired.message).toMatch(/lease ended/);

    clock.now += 60_000;
    const fast = pollMessages(o, { target: "code_developer" }).messages[0]!;
    expect(fast.attempt).toBe(2);
    const stale = refusal(() => acknowledgeMessage(o, { messageId: id, receipt: slow.receipt }));
    expect(stale.code).toBe("StaleReceipt");
    expect(stale.details).toMatchObject({ message_id: id, status: "delivered", attempts: 2 });
    acknowledgeMessage(o, { messageId: id, receipt: fast.receipt });
    expect(
      refusal(() => acknowledgeMessage(o, { messageId: id, receipt: slow.receipt })).message,
    ).toMatch(/already acknowledged/);
    expect(refusal(() => acknowledgeMessage(o, { messageId: 999, receipt: "r" })).code).toBe(
      "MessageNotFound",
    );
  });

  it("list reclaims ended leases too (no daemon needed)", () => {
    const { o, clock } = setup();
    const id = send(o);
    pollMessages(o, { target: "code_developer", lease: 1_000 });
    clock.now += 1_000;
    const listed = listMessages(o, {}).messages;
    expect(listed.map((m) => [m.message_id, m.status, m.attempts])).toEqual([[id, "pending", 1]]);
  });

  it("computes backoff as base·2^(attempt-1) with at most 25% jitter, capped", () => {
    expect(backoffDelay(1, 1_000, 60_000, () => 0)).toBe(1_000);
    expect(backoffDelay(2, 1_000, 60_000, () => 0)).toBe(2_000);
    expect(backoffDelay(3, 1_000, 60_000, () => 0)).toBe(4_000);
    expect(backoffDelay(3, 1_000, 60_000, () => 0.999_999)).toBe(5_000);
    expect(backoffDelay(20, 1_000, 60_000, () => 0.5)).toBe(60_000);
  });
});

describe("expiry", () => {
  it("expires a message past its TTL: never delivered, sender told", () => {
    const { o, clock } = setup();
    const id = send(o, { n: 1 }, { ttl: 60_000 });
    clock.now += 60_000;
    expect(pollMessages(o, { target: "code_developer" }).messages).toEqual([]);
    expect(row(o, id).status).toBe("expired");
    const notice = pollMessages(o, { target: "architect" }).messages;
    expect(notice).toHaveLength(1);
    expect(notice[0]!.content).toMatchObject({ message_id: id, status: "expired" });
    expect(o.events.since(0).filter((e) => e.kind === "message_expired")).toHaveLength(1);
    // The notice itself never causes another notice.
    clock.now += 2 * 86_400_000;
    pollMessages(o, { target: "architect" });
    expect(listMessages(o, {}).messages.map((m) => m.status)).toEqual(["expired", "expired"]);
    expect(pollMessages(o, { target: "architect" }).messages).toEqual([]);
  });

  it("expires a delivered message whose lease ends after its TTL", () => {
    const { o, clock } = setup();
    const id = send(o, { n: 1 }, { ttl: 5_000 });
    pollMessages(o, { target: "code_developer", lease: 10_000 });
    clock.now += 10_000;
    pollMessages(o, { target: "code_developer" });
    expect(row(o, id).status).toBe("expired");
  });
});

describe("idempotency key", () => {
  it("stores one message per sender and key", () => {
    const { o } = setup();
    const a = send(o, { n: 1 }, { idempotencyKey: "k1" });
    const b = send(o, { n: 1 }, { idempotencyKey: "k1" });
    expect(b).toBe(a);
    const other = sendMessage(o, {
      from: "reviewer",
      to: "code_developer",
      type: "spec_ready",
      content: '{"n":1}',
      idempotencyKey: "k1",
    }).message_id;
    expect(other).not.toBe(a);
    expect(listMessages(o, {}).messages).toHaveLength(2);
    const reused = refusal(() => send(o, { n: 2 }, { idempotencyKey: "k1" }));
    expect(reused.code).toBe("InvalidInput");
    expect(reused.details).toMatchObject({ message_id: a });
  });
});

describe("content", () => {
  it("refuses malformed JSON, oversized and too deeply nested content", () => {
    const { o } = setup();
    const bad = (content: string) =>
      refusal(() =>
        sendMessage(o, { from: "architect", to: "code_developer", type: "x", content }),
      );
    expect(bad("{task_id: auth}").details).toMatchObject({ reason: "content_not_json" });
    expect(bad("").details).toMatchObject({ reason: "content_not_json" });
    expect(bad('{"a":1} {"b":2}').details).toMatchObject({ reason: "content_not_json" });
    const big = JSON.stringify({ blob: "x".repeat(MAX_CONTENT_BYTES) });
    const tooBig = bad(big);
    expect(tooBig.code).toBe("InvalidInput");
    expect(tooBig.message).toMatch(/256 KiB/);
    // Multi-byte characters count in bytes, not UTF-16 units.
    expect(bad(JSON.stringify("é".repeat(MAX_CONTENT_BYTES / 2))).details).toMatchObject({
      reason: "content_too_large",
    });
    expect(bad(`${"[".repeat(10_000)}${"]".repeat(10_000)}`).details).toMatchObject({
      reason: "content_too_deep",
    });
    // Just under the limit is fine.
    const fits = JSON.stringify("x".repeat(MAX_CONTENT_BYTES - 2));
    expect(
      sendMessage(o, { from: "a1", to: "code_developer", type: "x", content: fits }).message_id,
    ).toBeGreaterThan(0);
    expect(listMessages(o, {}).messages).toHaveLength(1);
  });

  it("carries hostile content verbatim and renders it safely", () => {
    const { o } = setup();
    const hostile = {
      __proto__: { polluted: true },
      constructor: { prototype: { polluted: true } },
      text: "\u001b[31mred\u001b[0m\u202eevil\u0000'); DROP TABLE agent_message;--",
      brackets: "[[[{{{",
    };
    const content = JSON.stringify(hostile).replace('"text"', '"__proto__":{"x":1},"text"');
    const id = sendMessage(o, {
      from: "architect",
      to: "code_developer",
      type: "spec_ready",
      content,
    }).message_id;
    const polled = pollMessages(o, { target: "code_developer" });
    const got = polled.messages[0]!;
    expect(got.message_id).toBe(id);
    expect(JSON.stringify(got.content)).toBe(JSON.stringify(JSON.parse(content)));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const text = renderPoll(polled) + renderList(listMessages(o, {}));
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the point of the check
    expect(text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u202e]/);
    expect(text).toContain("\\u001b[31mred"); // JSON escapes stay visible
    expect(o.db.prepare("SELECT count(*) AS n FROM agent_message").get()).toEqual({ n: 1 });
  });

  it("measures nesting outside strings only", () => {
    expect(nestingDepth('{"a":[1,{"b":"[[[["}]}')).toBe(3);
    expect(nestingDepth('"\\"[["')).toBe(0);
  });
});

describe("addressing", () => {
  it("refuses an unknown agent id or type with AgentNotFound, naming the known types", () => {
    const { o } = setup();
    const e = refusal(() =>
      sendMessage(o, { from: "architect", to: "no-such-agent", type: "x", content: "{}" }),
    );
    expect(e.code).toBe("AgentNotFound");
    expect(e.exitCode).toBe(3);
    expect(e.message).toMatch(/agents list/);
    expect(e.details).toMatchObject({ known_types: expect.arrayContaining(["architect"]) });
    expect(refusal(() => pollMessages(o, { target: "no-such-agent" })).code).toBe("AgentNotFound");
    expect(
      refusal(() => sendMessage(o, { from: "architect", to: "../x", type: "x", content: "{}" }))
        .code,
    ).toBe("InvalidInput");
  });

  it("knows types from the config, from tasks and from agent rows", () => {
    const { o } = setup();
    importPlan(o, parsePlan({ tasks: [{ id: "t1", title: "T", agent_type: "tester" }] }, "t"));
    addAgent(o, "doc-1", "docs");
    for (const to of ["reviewer", "tester", "docs", "orchestrator", "code_developer"]) {
      expect(
        sendMessage(o, { from: "architect", to, type: "x", content: "{}" }).message_id,
      ).toBeGreaterThan(0);
    }
  });

  it("delivers incarnation-addressed messages only to that agent id; type messages to any", () => {
    const { o } = setup();
    addAgent(o, "rev-1", "reviewer", "killed");
    addAgent(o, "rev-2", "reviewer");
    addAgent(o, "rev-3", "reviewer");
    // A message to an incarnation that has ended would never be delivered: refused.
    expect(
      refusal(() => sendMessage(o, { from: "architect", to: "rev-1", type: "x", content: "{}" }))
        .code,
    ).toBe("AgentNotFound");
    const toRev2 = sendMessage(o, {
      from: "architect",
      to: "rev-2",
      type: "x",
      content: '{"for":"rev-2"}',
    }).message_id;
    const toType = sendMessage(o, {
      from: "architect",
      to: "reviewer",
      type: "x",
      content: '{"for":"any"}',
    }).message_id;
    // The type's poller and a sibling incarnation see only the type message.
    expect(pollMessages(o, { target: "rev-3" }).messages.map((m) => m.message_id)).toEqual([
      toType,
    ]);
    expect(pollMessages(o, { target: "reviewer" }).messages).toEqual([]);
    expect(pollMessages(o, { target: "rev-2" }).messages.map((m) => m.message_id)).toEqual([
      toRev2,
    ]);
    const delivered = row(o, toRev2);
    expect(delivered.to_kind).toBe("agent");
    expect(delivered.delivered_to).toBe("rev-2");
  });

  it("gives an incarnation both its own and its type's messages in one priority order", () => {
    const { o } = setup();
    addAgent(o, "rev-2", "reviewer");
    const m = (to: string, priority: "high" | "normal" | "low") =>
      sendMessage(o, { from: "architect", to, type: "x", content: "{}", priority }).message_id;
    const a = m("reviewer", "low");
    const b = m("rev-2", "normal");
    const c = m("reviewer", "high");
    const d = m("rev-2", "high");
    expect(
      pollMessages(o, { target: "rev-2", limit: 10 }).messages.map((x) => x.message_id),
    ).toEqual([c, d, b, a]);
  });
});

describe("long poll", () => {
  it("returns as soon as another process's message arrives, without hammering the database", async () => {
    const dir = tempDir("orch-route-wait-");
    // Two connections on the same file, real clocks: the receiver, and the sending process.
    const o = openOrchestrator({ db: join(dir, "orchestrator.db"), repo: dir });
    const sender = openOrchestrator({ db: join(dir, "orchestrator.db"), repo: dir });
    opened.push(o, sender);
    let transactions = 0;
    const write = o.write.bind(o);
    o.write = <T>(fn: () => T): T => {
      transactions++;
      return write(fn);
    };
    const started = performance.now();
    const waiting = waitForMessages(o, { target: "code_developer", wait: 10_000 });
    await new Promise((r) => setTimeout(r, 1_500));
    const idleTransactions = transactions;
    const sentAt = performance.now();
    const id = send(sender);
    const result = await waiting;
    const latency = performance.now() - sentAt;
    expect(result.messages.map((m) => m.message_id)).toEqual([id]);
    expect(latency).toBeLessThan(500);
    expect(performance.now() - started).toBeLessThan(5_000);
    // 1.5 s idle: the first attempt plus at most the fallback checks, not a busy loop.
    expect(idleTransactions).toBeLessThanOrEqual(2);
  });

  it("returns empty after the wait when nothing arrives", async () => {
    const { o } = setup();
    const started = performance.now();
    const result = await waitForMessages(o, { target: "code_developer", wait: 300 });
    const elapsed = performance.now() - started;
    expect(result).toEqual({ messages: [] });
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(2_000);
  });

  it("wakes when a message in backoff becomes available", async () => {
    const dir = tempDir("orch-route-wait-");
    writeFileSync(
      join(dir, "orchestrator.config.yaml"),
      "messages: { backoff_base: 200ms, backoff_max: 200ms }\n",
    );
    const o = openOrchestrator({ db: join(dir, "o.db"), repo: dir });
    opened.push(o);
    const id = send(o);
    const first = pollMessages(o, { target: "code_developer" }).messages[0]!;
    failMessage(o, { messageId: id, receipt: first.receipt, reason: "later" });
    const started = performance.now();
    const result = await waitForMessages(o, { target: "code_developer", wait: 5_000 });
    const elapsed = performance.now() - started;
    expect(result.messages.map((m) => [m.message_id, m.attempt])).toEqual([[id, 2]]);
    expect(elapsed).toBeGreaterThanOrEqual(150);
    expect(elapsed).toBeLessThan(900);
  });
});
