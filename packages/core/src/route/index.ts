import { performance } from "node:perf_hooks";
import {
  MESSAGE_STATUSES,
  type MessageRow,
  type MessageStatus,
  type Recipient,
  type RecipientKind,
} from "@orchestrator/db";
import { exponentialBackoff } from "../backoff.js";
import type { Orchestrator } from "../context.js";
import { invalidInput, OrchestratorError } from "../errors.js";
import { idProblem, isValidId } from "../ids.js";
import { MAX_REASON_LENGTH, requireWellFormed } from "../input.js";
import { validateContent } from "./content.js";
import { DatabaseWatcher } from "./wait.js";

export { MAX_CONTENT_BYTES, MAX_CONTENT_DEPTH, validateContent } from "./content.js";

/** Message types the orchestrator and the seed's agents use; any other name is a custom type. */
export const MESSAGE_TYPES = [
  "task_assignment",
  "status_update",
  "dependency_ready",
  "error_notification",
  "quality_report",
  "spec_ready",
] as const;

/** Priority names; a lower number is delivered first. */
export const MESSAGE_PRIORITIES = { high: 0, normal: 1, low: 2 } as const;
export type MessagePriority = keyof typeof MESSAGE_PRIORITIES;

/** The name the orchestrator sends as, and a type that always exists for agents to write to. */
export const ORCHESTRATOR_ADDRESS = "orchestrator";
export const DEFAULT_POLL_LIMIT = 10;
export const MAX_POLL_LIMIT = 1_000;
export const DEFAULT_LIST_LIMIT = 100;
/** Rows each lazy sweep handles per transaction, so one poll never does unbounded work. */
const SWEEP_BATCH = 500;
/** Backoff jitter: up to this fraction of the delay is added at random. */
const JITTER = 0.25;
const LIVE_AGENT_STATUSES = new Set(["starting", "running"]);

// ---------------------------------------------------------------------------------------------
// Results

export interface SendResult {
  message_id: number;
}

export interface DeliveredMessage {
  message_id: number;
  /** Proof of this delivery: acknowledge (or fail) with it before the lease ends. */
  receipt: string;
  from: string;
  to: string;
  type: string;
  content: unknown;
  /** 1 on the first delivery, 2 on the first redelivery, … */
  attempt: number;
}

export interface PollResult {
  messages: DeliveredMessage[];
}

export interface AcknowledgeResult {
  message_id: number;
  status: "acknowledged";
}

export interface FailResult {
  message_id: number;
  /**
   * `pending` (delivered again at next_attempt_at), `failed` (a dead letter: that was the last
   * attempt) or `expired` (its time to live had ended).
   */
  status: "pending" | "failed" | "expired";
  attempts: number;
  max_attempts: number;
  next_attempt_at: string | null;
}

export interface RetryResult {
  message_id: number;
  status: "pending";
}

export interface ListedMessage {
  message_id: number;
  status: MessageStatus;
  attempts: number;
  max_attempts: number;
  from: string;
  to: string;
  to_kind: RecipientKind;
  type: string;
  priority: string;
  content: unknown;
  created_at: string;
  /** When a pending message may next be delivered (after a backoff). */
  available_at: string;
  expires_at: string;
  delivered_to: string | null;
  lease_expires_at: string | null;
  finished_at: string | null;
  last_error: string | null;
}

export interface ListResult {
  messages: ListedMessage[];
}

// ---------------------------------------------------------------------------------------------
// Options

export interface SendOptions {
  from: string;
  /** An agent id (one incarnation) or an agent type (whichever agent of it polls first). */
  to: string;
  type: string;
  /** One JSON document, as text. */
  content: string;
  priority?: MessagePriority;
  /** Time to live in ms; default config messages.ttl. */
  ttl?: number;
  idempotencyKey?: string;
}

export interface PollOptions {
  /** An agent id (its own and its type's messages) or an agent type (the type's messages). */
  target: string;
  limit?: number;
  /** Lease in ms; default config messages.lease. */
  lease?: number;
}

export interface WaitOptions extends PollOptions {
  /** Longest wait for a first message, in ms. */
  wait: number;
}

export interface AcknowledgeOptions {
  messageId: number;
  receipt: string;
}

export interface FailOptions {
  messageId: number;
  reason: string;
  /** When given, only the delivery holding this receipt is failed. */
  receipt?: string;
}

export interface ListOptions {
  status?: MessageStatus;
  target?: string;
  from?: string;
  limit?: number;
}

// ---------------------------------------------------------------------------------------------
// Commands

/**
 * Stores one message for an agent id or an agent type. With an idempotency key, the same key
 * from the same sender stores one message: repeating the send returns the first message's id.
 */
export function sendMessage(o: Orchestrator, options: SendOptions): SendResult {
  return sendMessages(o, [options])[0]!;
}

/**
 * Stores several messages in one transaction, all or nothing: a batch with one bad message
 * stores none. Results are in the order of `batch`.
 */
export function sendMessages(o: Orchestrator, batch: readonly SendOptions[]): SendResult[] {
  const checked = batch.map((options) => checkSend(o, options));
  return o.write(() => {
    const now = o.now();
    const addresses = new Map<string, Address>();
    return checked.map((send) => storeMessage(o, send, addresses, now));
  });
}

interface CheckedSend {
  options: SendOptions;
  priority: number;
  ttl: number;
}

function checkSend(o: Orchestrator, options: SendOptions): CheckedSend {
  requireName("--from", options.from);
  requireName("--to", options.to);
  requireName("--type", options.type);
  const priority = priorityValue(options.priority);
  const ttl = options.ttl ?? o.config.messages.ttl;
  requirePositiveMs("--ttl", ttl);
  if (options.idempotencyKey !== undefined) {
    if (options.idempotencyKey.length === 0 || options.idempotencyKey.length > 200) {
      throw invalidInput("--idempotency-key must be 1-200 characters", {
        idempotency_key: options.idempotencyKey,
      });
    }
  }
  validateContent(options.content);
  return { options, priority, ttl };
}

/** One send inside the batch's transaction; `addresses` remembers names already resolved. */
function storeMessage(
  o: Orchestrator,
  { options, priority, ttl }: CheckedSend,
  addresses: Map<string, Address>,
  now: number,
): SendResult {
  if (options.idempotencyKey !== undefined) {
    const earlier = o.messages.byIdempotencyKey(options.from, options.idempotencyKey);
    if (earlier) return sameMessageOrRefuse(earlier, options);
  }
  let recipient = addresses.get(options.to);
  if (!recipient) {
    recipient = resolveAddress(o, options.to, "--to");
    addresses.set(options.to, recipient);
  }
  if (recipient.kind === "agent" && !LIVE_AGENT_STATUSES.has(recipient.status)) {
    throw new OrchestratorError(
      "AgentNotFound",
      `agent ${JSON.stringify(options.to)} has ended (${recipient.status}); a message to it would never be delivered. Address its type ${JSON.stringify(recipient.agentType)} instead`,
      { agent_id: options.to, status: recipient.status, agent_type: recipient.agentType },
    );
  }
  const messageId = o.messages.insert(
    {
      from_agent: options.from,
      to_agent: options.to,
      to_kind: recipient.kind,
      message_type: options.type,
      content: options.content,
      priority,
      max_attempts: o.config.messages.max_attempts,
      expires_at: now + ttl,
      idempotency_key: options.idempotencyKey ?? null,
    },
    now,
  );
  return { message_id: messageId };
}

/**
 * Claims up to --limit messages for the target in one transaction, in priority then age
 * order, each leased until now + lease with a fresh receipt. Expired leases and TTLs are
 * swept first, in the same transaction.
 */
export function pollMessages(o: Orchestrator, options: PollOptions): PollResult {
  const plan = planPoll(o, options);
  return { messages: claimNow(o, plan).messages };
}

/**
 * `pollMessages` that waits up to `wait` ms for a first message. Between attempts it sleeps until the
 * database directory changes (fs.watch), a backoff or lease is due, or a fallback timer fires;
 * it takes the write lock only when `PRAGMA data_version` shows another connection committed
 * or a due time has come, so idle pollers cost the database nothing.
 */
export async function waitForMessages(o: Orchestrator, options: WaitOptions): Promise<PollResult> {
  if (!Number.isFinite(options.wait) || options.wait < 0) {
    throw invalidInput(`--wait must be a duration of 0 or more, not ${options.wait}`, {
      wait: options.wait,
    });
  }
  const plan = planPoll(o, options);
  const deadline = performance.now() + options.wait;
  // Watch before the first claim, so a commit right after it is not missed.
  const watcher = options.wait > 0 ? new DatabaseWatcher(o.db.name) : undefined;
  try {
    for (;;) {
      const attempt = claimNow(o, plan);
      if (attempt.messages.length > 0 || !watcher) return { messages: attempt.messages };
      for (;;) {
        const remaining = deadline - performance.now();
        if (remaining <= 0) return { messages: [] };
        const untilDue = attempt.nextChange === null ? Infinity : attempt.nextChange - o.now();
        await watcher.wait(Math.min(remaining, watcher.checkEveryMs, Math.max(0, untilDue)));
        if (dataVersion(o) !== attempt.dataVersion) break;
        if (attempt.nextChange !== null && o.now() >= attempt.nextChange) break;
      }
    }
  } finally {
    watcher?.close();
  }
}

/**
 * Acknowledges a delivery. Only the receipt of the current, unexpired lease is accepted;
 * acknowledging again with the same receipt is a no-op that reports the same result.
 */
export function acknowledgeMessage(
  o: Orchestrator,
  options: AcknowledgeOptions,
): AcknowledgeResult {
  const [outcome] = acknowledgeMessages(o, [options]);
  if (outcome instanceof OrchestratorError) throw outcome;
  return outcome!;
}

/**
 * Acknowledges several deliveries in one transaction. Each is judged on its own, as by
 * `acknowledgeMessage`: a refused one (stale receipt, unknown id) comes back as its error in
 * its place and does not stop the others.
 */
export function acknowledgeMessages(
  o: Orchestrator,
  batch: readonly AcknowledgeOptions[],
): (AcknowledgeResult | OrchestratorError)[] {
  for (const options of batch) {
    requireMessageId(options.messageId);
    requireReceipt(options.receipt);
  }
  return o.write(() => {
    const now = o.now();
    const acknowledged = o.messages.acknowledge(
      batch.map((a) => ({ id: a.messageId, receipt: a.receipt })),
      now,
    );
    return batch.map((options) =>
      acknowledged.has(`${options.messageId} ${options.receipt}`)
        ? { message_id: options.messageId, status: "acknowledged" as const }
        : notAcknowledgedNow(o, options, now),
    );
  });
}

/** Why a receipt acknowledged nothing: the same ack again (fine), or a refusal. */
function notAcknowledgedNow(
  o: Orchestrator,
  options: AcknowledgeOptions,
  now: number,
): AcknowledgeResult | OrchestratorError {
  const row = o.messages.get(options.messageId);
  if (!row) return messageNotFound(options.messageId);
  if (row.status === "acknowledged" && row.receipt === options.receipt) {
    return { message_id: row.id, status: "acknowledged" };
  }
  return staleReceipt(row, options.receipt, now, "acknowledge");
}

/**
 * The receiver could not handle a delivered message: it is delivered again after a backoff,
 * or, on its last attempt, becomes a dead letter (`failed`) and the sender is told.
 */
export function failMessage(o: Orchestrator, options: FailOptions): FailResult {
  requireMessageId(options.messageId);
  if (options.receipt !== undefined) requireReceipt(options.receipt);
  const reason = options.reason.trim();
  if (reason.length === 0 || reason.length > MAX_REASON_LENGTH) {
    throw invalidInput(`--reason must be 1-${MAX_REASON_LENGTH} characters, not ${reason.length}`, {
      reason: "reason_length",
      length: reason.length,
      limit: MAX_REASON_LENGTH,
    });
  }
  requireWellFormed(reason, "--reason");
  return o.write(() => {
    const now = o.now();
    const row = getMessage(o, options.messageId);
    const receipt = options.receipt ?? row.receipt;
    if (row.status === "failed" && receipt !== null && row.receipt === receipt) {
      return failResult(row, "failed", null); // the same fail again
    }
    const holdsLease =
      row.status === "delivered" &&
      row.receipt === receipt &&
      row.lease_expires_at !== null &&
      row.lease_expires_at > now;
    if (!holdsLease) {
      if (options.receipt !== undefined) throw staleReceipt(row, options.receipt, now, "fail");
      throw invalidInput(
        `message ${row.id} is ${row.status}${row.status === "delivered" ? " but its lease has ended" : ""}; only a message under a current lease can be failed`,
        { message_id: row.id, status: row.status },
      );
    }
    return endDelivery(o, row, `failed by the receiver: ${reason}`, now);
  });
}

/** Puts a dead letter (`failed`) or an expired message back to pending, with fresh attempts. */
export function retryMessage(o: Orchestrator, options: { messageId: number }): RetryResult {
  requireMessageId(options.messageId);
  return o.write(() => {
    const now = o.now();
    const row = getMessage(o, options.messageId);
    if (row.status !== "failed" && row.status !== "expired") {
      throw invalidInput(
        `message ${row.id} is ${row.status}; only a failed (dead letter) or expired message can be retried`,
        { message_id: row.id, status: row.status },
      );
    }
    const ttl = Math.max(1, row.expires_at - row.created_at);
    o.messages.requeue(row.id, now + ttl, now);
    o.record({
      kind: "message_retried",
      message_id: row.id,
      detail: { was: row.status, to: row.to_agent, type: row.message_type },
    });
    return { message_id: row.id, status: "pending" };
  });
}

/** Messages, newest `limit` in order of id, after the same lazy sweep as poll. */
export function listMessages(o: Orchestrator, options: ListOptions = {}): ListResult {
  const limit = options.limit ?? DEFAULT_LIST_LIMIT;
  if (!Number.isInteger(limit) || limit < 1) {
    throw invalidInput(`--limit must be a whole number of at least 1, not ${limit}`, { limit });
  }
  if (options.status !== undefined && !MESSAGE_STATUSES.includes(options.status)) {
    throw invalidInput(`--status must be one of ${MESSAGE_STATUSES.join(", ")}`, {
      status: options.status,
    });
  }
  return o.write(() => {
    sweepMessages(o, o.now());
    const rows = o.messages.list({
      limit,
      ...(options.status !== undefined ? { status: options.status } : {}),
      ...(options.target !== undefined ? { to: options.target } : {}),
      ...(options.from !== undefined ? { from: options.from } : {}),
    });
    return { messages: rows.map(listed) };
  });
}

// ---------------------------------------------------------------------------------------------
// Rules

/** A message's redelivery wait: doubling from the base, with up to 25 % jitter, capped. */
export function backoffDelay(
  attempt: number,
  base: number,
  max: number,
  random: () => number = Math.random,
): number {
  return exponentialBackoff(attempt, { base, max, factor: 2, jitter: JITTER }, random);
}

export interface SweepResult {
  redelivered: number;
  dead_lettered: number;
  expired: number;
}

/**
 * Lazy housekeeping, run inside every poll and list transaction: a delivery whose lease ended
 * goes back to pending with a backoff, or becomes a dead letter after its last attempt; a
 * message past its TTL becomes expired. The sender is told of each dead letter and expiry.
 */
export function sweepMessages(o: Orchestrator, now: number): SweepResult {
  const result: SweepResult = { redelivered: 0, dead_lettered: 0, expired: 0 };
  if (!o.messages.sweepDue(now)) return result;
  for (const row of o.messages.expiredLeases(now, SWEEP_BATCH)) {
    const outcome = endDelivery(
      o,
      row,
      `no acknowledgement before the lease ended (attempt ${row.attempts} of ${row.max_attempts})`,
      now,
    );
    if (outcome.status === "pending") result.redelivered++;
    else if (outcome.status === "failed") result.dead_lettered++;
    else result.expired++;
  }
  for (const row of o.messages.expiredPending(now, SWEEP_BATCH)) {
    if (o.messages.finish(row.id, "pending", null, "expired", "expired before delivery", now)) {
      deadLetter(o, row, "expired", "its time to live ended before it was acknowledged", now);
      result.expired++;
    }
  }
  return result;
}

/** Ends the current delivery of `row` (status delivered): back to pending, failed or expired. */
function endDelivery(o: Orchestrator, row: MessageRow, why: string, now: number): FailResult {
  const receipt = row.receipt!;
  if (row.expires_at <= now) {
    o.messages.finish(row.id, "delivered", receipt, "expired", why, now);
    deadLetter(o, row, "expired", `its time to live ended; last: ${why}`, now);
    return failResult(row, "expired", null);
  }
  if (row.attempts >= row.max_attempts) {
    o.messages.finish(row.id, "delivered", receipt, "failed", why, now);
    deadLetter(
      o,
      row,
      "failed",
      `delivery failed after ${row.attempts} attempts; last: ${why}`,
      now,
    );
    return failResult(row, "failed", null);
  }
  // The backoff runs from when the delivery ended: the lease's end, however late the sweep.
  const { backoff_base, backoff_max } = o.config.messages;
  const endedAt = Math.min(now, row.lease_expires_at ?? now);
  const availableAt = endedAt + backoffDelay(row.attempts, backoff_base, backoff_max);
  o.messages.release(row.id, receipt, availableAt, why, now);
  return failResult(row, "pending", availableAt);
}

/** Records a message's end as failed or expired and tells its sender (never about a notice). */
function deadLetter(
  o: Orchestrator,
  row: MessageRow,
  status: "failed" | "expired",
  reason: string,
  now: number,
): void {
  let notificationId: number | null = null;
  if (row.message_type !== "error_notification") {
    const sender = o.agents.get(row.from_agent);
    notificationId = o.messages.insert(
      {
        from_agent: ORCHESTRATOR_ADDRESS,
        to_agent: row.from_agent,
        to_kind: sender ? "agent" : "type",
        message_type: "error_notification",
        content: JSON.stringify({
          message_id: row.id,
          status,
          reason,
          to: row.to_agent,
          type: row.message_type,
          attempts: row.attempts,
        }),
        priority: MESSAGE_PRIORITIES.high,
        max_attempts: o.config.messages.max_attempts,
        expires_at: now + o.config.messages.ttl,
        idempotency_key: null,
      },
      now,
    );
  }
  o.record({
    kind: status === "failed" ? "message_dead_lettered" : "message_expired",
    message_id: row.id,
    agent_id: row.from_agent,
    detail: {
      to: row.to_agent,
      type: row.message_type,
      attempts: row.attempts,
      reason,
      notification_id: notificationId,
    },
  });
}

interface PollPlan {
  target: string;
  /** Resolved inside the first claim's transaction, then kept. */
  recipient: Recipient | null;
  limit: number;
  lease: number;
}

function planPoll(o: Orchestrator, options: PollOptions): PollPlan {
  requireName("--target", options.target);
  const limit = options.limit ?? DEFAULT_POLL_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_POLL_LIMIT) {
    throw invalidInput(`--limit must be a whole number from 1 to ${MAX_POLL_LIMIT}, not ${limit}`, {
      limit,
    });
  }
  const lease = options.lease ?? o.config.messages.lease;
  requirePositiveMs("--lease", lease);
  return { target: options.target, recipient: null, limit, lease };
}

function resolveRecipient(o: Orchestrator, plan: PollPlan): Recipient {
  if (plan.recipient) return plan.recipient;
  const address = resolveAddress(o, plan.target, "--target");
  plan.recipient =
    address.kind === "agent"
      ? { agentId: plan.target, agentType: address.agentType }
      : { agentId: null, agentType: plan.target };
  return plan.recipient;
}

interface ClaimAttempt {
  messages: DeliveredMessage[];
  /** PRAGMA data_version read under the write lock: any later commit by others changes it. */
  dataVersion: number;
  /** When a backoff or lease that may concern the recipient is due (ms), if any. */
  nextChange: number | null;
}

function claimNow(o: Orchestrator, plan: PollPlan): ClaimAttempt {
  return o.write(() => {
    const now = o.now();
    const recipient = resolveRecipient(o, plan);
    sweepMessages(o, now);
    const rows = o.messages.claim(recipient, plan.limit, now + plan.lease, now);
    return {
      messages: rows.map((row) => ({
        message_id: row.id,
        receipt: row.receipt,
        from: row.from_agent,
        to: row.to_agent,
        type: row.message_type,
        content: JSON.parse(row.content) as unknown,
        attempt: row.attempts,
      })),
      dataVersion: dataVersion(o),
      nextChange: rows.length > 0 ? null : o.messages.nextChange(recipient, now),
    };
  });
}

function dataVersion(o: Orchestrator): number {
  return o.messages.dataVersion();
}

type Address =
  | { kind: "agent"; agentType: string; status: string }
  | { kind: "type"; agentType: string };

/**
 * An agent id (a row of agent_lifecycle) addresses that incarnation; otherwise a name is an
 * agent type when the config, a task or an agent row names it (or it is `orchestrator`).
 */
function resolveAddress(o: Orchestrator, name: string, flag: string): Address {
  const agent = o.agents.get(name);
  if (agent) return { kind: "agent", agentType: agent.agent_type, status: agent.status };
  if (
    name === ORCHESTRATOR_ADDRESS ||
    name === o.config.default_agent_type ||
    Object.hasOwn(o.config.agents, name) ||
    o.agents.typeSeen(name) ||
    o.tasks.agentTypeInUse(name)
  ) {
    return { kind: "type", agentType: name };
  }
  const known = [
    ...new Set([
      ...Object.keys(o.config.agents),
      o.config.default_agent_type,
      ORCHESTRATOR_ADDRESS,
    ]),
  ].sort();
  throw new OrchestratorError(
    "AgentNotFound",
    `${flag} ${JSON.stringify(name)} is neither an agent id nor a known agent type. An agent id is one listed by \`orchestrator agents list\`; an agent type is configured under \`agents:\` in orchestrator.config.yaml or is the agent_type of a task. Known types: ${known.join(", ")}`,
    { name, known_types: known },
  );
}

function sameMessageOrRefuse(earlier: MessageRow, options: SendOptions): SendResult {
  if (
    earlier.to_agent !== options.to ||
    earlier.message_type !== options.type ||
    earlier.content !== options.content
  ) {
    throw invalidInput(
      `idempotency key ${JSON.stringify(options.idempotencyKey)} from ${JSON.stringify(options.from)} was already used for message ${earlier.id} with a different recipient, type or content; use a new key for a new message`,
      { message_id: earlier.id, idempotency_key: options.idempotencyKey },
    );
  }
  return { message_id: earlier.id };
}

function staleReceipt(
  row: MessageRow,
  receipt: string,
  now: number,
  verb: "acknowledge" | "fail",
): OrchestratorError {
  let why: string;
  if (row.receipt === receipt && row.status === "delivered") {
    why = `its lease ended at ${iso(row.lease_expires_at!)}; it will be delivered again`;
  } else if (row.status === "delivered") {
    why = `it was delivered again (attempt ${row.attempts}) after that receipt's lease ended`;
  } else if (row.status === "pending") {
    why = "its lease ended and it waits to be delivered again";
  } else if (row.status === "acknowledged") {
    why = "it was already acknowledged through another delivery";
  } else {
    why = `it is ${row.status}${row.status === "failed" ? " (a dead letter)" : ""}`;
  }
  return new OrchestratorError(
    "StaleReceipt",
    `cannot ${verb} message ${row.id} with this receipt: ${why}. Drop the work done for this delivery; a current delivery carries a new receipt`,
    {
      message_id: row.id,
      status: row.status,
      attempts: row.attempts,
      lease_expires_at: row.lease_expires_at === null ? null : iso(row.lease_expires_at),
      now: iso(now),
    },
  );
}

function getMessage(o: Orchestrator, id: number): MessageRow {
  const row = o.messages.get(id);
  if (!row) throw messageNotFound(id);
  return row;
}

function messageNotFound(id: number): OrchestratorError {
  return new OrchestratorError(
    "MessageNotFound",
    `no message with id ${id}; run \`orchestrator route list\` to see messages`,
    { message_id: id },
  );
}

function failResult(
  row: MessageRow,
  status: FailResult["status"],
  availableAt: number | null,
): FailResult {
  return {
    message_id: row.id,
    status,
    attempts: row.attempts,
    max_attempts: row.max_attempts,
    next_attempt_at: availableAt === null ? null : iso(availableAt),
  };
}

const PRIORITY_NAMES = Object.fromEntries(
  Object.entries(MESSAGE_PRIORITIES).map(([name, value]) => [value, name]),
) as Record<number, string>;

function listed(row: MessageRow): ListedMessage {
  return {
    message_id: row.id,
    status: row.status,
    attempts: row.attempts,
    max_attempts: row.max_attempts,
    from: row.from_agent,
    to: row.to_agent,
    to_kind: row.to_kind,
    type: row.message_type,
    priority: PRIORITY_NAMES[row.priority] ?? String(row.priority),
    content: JSON.parse(row.content) as unknown,
    created_at: iso(row.created_at),
    available_at: iso(row.available_at),
    expires_at: iso(row.expires_at),
    delivered_to: row.delivered_to,
    lease_expires_at:
      row.status === "delivered" && row.lease_expires_at !== null
        ? iso(row.lease_expires_at)
        : null,
    finished_at: row.finished_at === null ? null : iso(row.finished_at),
    last_error: row.last_error,
  };
}

function priorityValue(priority: MessagePriority | undefined): number {
  if (priority === undefined) return MESSAGE_PRIORITIES.normal;
  if (!Object.hasOwn(MESSAGE_PRIORITIES, priority)) {
    throw invalidInput(
      `--priority must be one of ${Object.keys(MESSAGE_PRIORITIES).join(", ")}, not ${JSON.stringify(priority)}`,
      { priority },
    );
  }
  return MESSAGE_PRIORITIES[priority];
}

function requireName(flag: string, name: string): void {
  if (!isValidId(name)) {
    throw invalidInput(
      `${flag} ${JSON.stringify(name)} is not a valid name (${idProblem(name)}): 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`,
      { [flag.replace(/^--/, "")]: name },
    );
  }
}

function requirePositiveMs(flag: string, ms: number): void {
  if (!Number.isFinite(ms) || ms <= 0) {
    throw invalidInput(`${flag} must be a duration greater than 0, e.g. 60s`, {
      [flag.replace(/^--/, "")]: ms,
    });
  }
}

function requireMessageId(id: number): void {
  if (!Number.isSafeInteger(id) || id < 1) {
    throw invalidInput(`--message-id must be a message id (a whole number), not ${id}`, {
      message_id: id,
    });
  }
}

function requireReceipt(receipt: string): void {
  if (typeof receipt !== "string" || receipt.length === 0 || receipt.length > 200) {
    throw invalidInput("--receipt must be the receipt that poll returned with the message", {});
  }
}

const iso = (ms: number) => new Date(ms).toISOString();
