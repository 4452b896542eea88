import type { Db } from "../connection.js";
import { statement } from "../statements.js";

export const MESSAGE_STATUSES = [
  "pending",
  "delivered",
  "acknowledged",
  "failed",
  "expired",
] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];
export type RecipientKind = "agent" | "type";

export interface NewMessage {
  from_agent: string;
  to_agent: string;
  to_kind: RecipientKind;
  message_type: string;
  content: string;
  priority: number;
  max_attempts: number;
  expires_at: number;
  idempotency_key: string | null;
}

export interface MessageRow {
  id: number;
  from_agent: string;
  to_agent: string;
  to_kind: RecipientKind;
  message_type: string;
  content: string;
  priority: number;
  status: MessageStatus;
  attempts: number;
  max_attempts: number;
  available_at: number;
  lease_expires_at: number | null;
  receipt: string | null;
  delivered_to: string | null;
  expires_at: number;
  idempotency_key: string | null;
  last_error: string | null;
  created_at: number;
  delivered_at: number | null;
  finished_at: number | null;
}

/** A message just handed out by `claim`, with the receipt of this delivery. */
export type ClaimedRow = Pick<
  MessageRow,
  | "id"
  | "from_agent"
  | "to_agent"
  | "to_kind"
  | "message_type"
  | "content"
  | "priority"
  | "attempts"
  | "lease_expires_at"
> & { receipt: string };

/** Who is polling: a type, or one agent incarnation (which also receives its type's messages). */
export interface Recipient {
  agentId: string | null;
  agentType: string;
}

export interface MessageFilter {
  status?: MessageStatus;
  /** Addressed to this agent id or type. */
  to?: string;
  from?: string;
  limit: number;
}

// The claim is one statement: the candidates are read from the partial index
// agent_message_pending in delivery order, then taken and given their lease and a random
// receipt (128 bits from SQLite's CSPRNG) by the same UPDATE, which returns them.
// Parameters are written `+:name`: a bare parameter in an equality that also feeds ORDER BY
// makes SQLite (built with STAT4) re-plan the statement on every new binding, which cost
// ~35 µs per claim here; `+` keeps the same plan and index (EXPLAIN QUERY PLAN is unchanged).
const TYPE_CANDIDATES = `
  SELECT id FROM agent_message INDEXED BY agent_message_pending
   WHERE status = 'pending' AND to_agent = +:type AND to_kind = 'type'
     AND available_at <= +:now AND expires_at > +:now
   ORDER BY priority, id LIMIT +:limit`;

const AGENT_CANDIDATES = `
  SELECT id FROM (
    SELECT * FROM (
      SELECT id, priority FROM agent_message INDEXED BY agent_message_pending
       WHERE status = 'pending' AND to_agent = +:type AND to_kind = 'type'
         AND available_at <= +:now AND expires_at > +:now
       ORDER BY priority, id LIMIT +:limit)
    UNION ALL
    SELECT * FROM (
      SELECT id, priority FROM agent_message INDEXED BY agent_message_pending
       WHERE status = 'pending' AND to_agent = +:agent AND to_kind = 'agent'
         AND available_at <= +:now AND expires_at > +:now
       ORDER BY priority, id LIMIT +:limit))
   ORDER BY priority, id LIMIT +:limit`;

const claimStatement = (candidates: string) => `
  UPDATE agent_message
     SET status = 'delivered', attempts = attempts + 1, receipt = lower(hex(randomblob(16))),
         lease_expires_at = +:lease, delivered_to = +:deliveredTo, delivered_at = +:now
   WHERE id IN (${candidates}) AND status = 'pending'
  RETURNING id, from_agent, to_agent, to_kind, message_type, content, priority, attempts,
            receipt, lease_expires_at`;
const CLAIM_FOR_TYPE = claimStatement(TYPE_CANDIDATES);
const CLAIM_FOR_AGENT = claimStatement(AGENT_CANDIDATES);

/** agent_message: the rows of the message bus. Decides nothing; core/route holds the rules. */
export class MessageStore {
  constructor(private readonly db: Db) {}

  insert(message: NewMessage, now: number): number {
    return Number(
      statement(
        this.db,
        `INSERT INTO agent_message (from_agent, to_agent, to_kind, message_type, content, priority,
                                    max_attempts, available_at, expires_at, idempotency_key, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        message.from_agent,
        message.to_agent,
        message.to_kind,
        message.message_type,
        message.content,
        message.priority,
        message.max_attempts,
        now,
        message.expires_at,
        message.idempotency_key,
        now,
      ).lastInsertRowid,
    );
  }

  get(id: number): MessageRow | undefined {
    return statement<[number], MessageRow>(this.db, "SELECT * FROM agent_message WHERE id = ?").get(
      id,
    );
  }

  byIdempotencyKey(from: string, key: string): MessageRow | undefined {
    return statement<[string, string], MessageRow>(
      this.db,
      "SELECT * FROM agent_message WHERE from_agent = ? AND idempotency_key = ?",
    ).get(from, key);
  }

  /**
   * Hands out up to `limit` pending, available, unexpired messages for the recipient, in
   * priority then id order, leased until `leaseExpiresAt`, each with a fresh random receipt
   * (so a receipt from an earlier delivery never matches again). Call inside a write
   * transaction.
   */
  claim(recipient: Recipient, limit: number, leaseExpiresAt: number, now: number): ClaimedRow[] {
    const claimed = statement<Record<string, unknown>, ClaimedRow>(
      this.db,
      recipient.agentId === null ? CLAIM_FOR_TYPE : CLAIM_FOR_AGENT,
    ).all({
      type: recipient.agentType,
      ...(recipient.agentId === null ? {} : { agent: recipient.agentId }),
      now,
      limit,
      lease: leaseExpiresAt,
      deliveredTo: recipient.agentId ?? recipient.agentType,
    });
    // RETURNING gives rows in no promised order: put them back in delivery order.
    return claimed.sort((a, b) => a.priority - b.priority || a.id - b.id);
  }

  /**
   * The earliest time after `now` at which something may become claimable for the recipient:
   * a message in backoff becoming available, or any lease running out.
   */
  nextChange(recipient: Recipient, now: number): number | null {
    const row = statement<Record<string, unknown>, { at: number | null }>(
      this.db,
      `SELECT min(
         coalesce((SELECT min(lease_expires_at) FROM agent_message INDEXED BY agent_message_leased
                    WHERE status = 'delivered'), 1e18),
         coalesce((SELECT min(available_at) FROM agent_message INDEXED BY agent_message_pending
                    WHERE status = 'pending' AND available_at > :now
                      AND ((to_agent = :type AND to_kind = 'type')
                        OR (to_agent = :agent AND to_kind = 'agent'))), 1e18)) AS at`,
    ).get({ now, type: recipient.agentType, agent: recipient.agentId });
    const at = row?.at ?? null;
    return at === null || at >= 1e18 ? null : at;
  }

  /**
   * Whether a lease has ended or a pending message's TTL has run out: two index probes, so the
   * sweep in every poll costs almost nothing when there is nothing to sweep.
   */
  sweepDue(now: number): boolean {
    return (
      statement<[number, number], number>(
        this.db,
        `SELECT EXISTS (SELECT 1 FROM agent_message INDEXED BY agent_message_leased
                         WHERE status = 'delivered' AND lease_expires_at <= ?)
             OR EXISTS (SELECT 1 FROM agent_message INDEXED BY agent_message_expiry
                         WHERE status = 'pending' AND expires_at <= ?)`,
      )
        .pluck()
        .get(now, now) === 1
    );
  }

  /**
   * Messages created at or after `since`. A message's row is the record of its sending (no
   * event row is written per send, which would double the pages every send commits).
   */
  sentSince(since: number): number {
    return statement<[number], number>(
      this.db,
      "SELECT count(*) FROM agent_message WHERE created_at >= ?",
    )
      .pluck()
      .get(since)!;
  }

  /** PRAGMA data_version: changes whenever another connection commits to the database. */
  dataVersion(): number {
    return statement<[], number>(this.db, "PRAGMA data_version").pluck().get()!;
  }

  /** Delivered messages whose lease ended at or before `now`, oldest lease first. */
  expiredLeases(now: number, limit: number): MessageRow[] {
    return statement<[number, number], MessageRow>(
      this.db,
      `SELECT * FROM agent_message INDEXED BY agent_message_leased
        WHERE status = 'delivered' AND lease_expires_at <= ?
        ORDER BY lease_expires_at LIMIT ?`,
    ).all(now, limit);
  }

  /** Pending messages whose TTL ended at or before `now`. */
  expiredPending(now: number, limit: number): MessageRow[] {
    return statement<[number, number], MessageRow>(
      this.db,
      `SELECT * FROM agent_message INDEXED BY agent_message_expiry
        WHERE status = 'pending' AND expires_at <= ?
        ORDER BY expires_at LIMIT ?`,
    ).all(now, limit);
  }

  /**
   * Acknowledges the deliveries whose receipt holds an unexpired lease, in one statement.
   * Returns them as `id receipt` keys; the others (stale receipt, unknown id, already
   * acknowledged) are left as they are.
   */
  acknowledge(acks: readonly { id: number; receipt: string }[], now: number): Set<string> {
    const keys = statement<{ acks: string; now: number }, string>(
      this.db,
      `UPDATE agent_message SET status = 'acknowledged', finished_at = +:now
         FROM json_each(:acks) AS ack
        WHERE agent_message.id = ack.value ->> 0 AND agent_message.receipt = ack.value ->> 1
          AND agent_message.status = 'delivered' AND agent_message.lease_expires_at > +:now
       RETURNING id || ' ' || receipt`,
    )
      .pluck()
      .all({ acks: JSON.stringify(acks.map((a) => [a.id, a.receipt])), now });
    return new Set(keys);
  }

  /**
   * Ends a delivery and puts the message back to pending, available again at `availableAt`.
   * Only the delivery holding `receipt` is ended.
   */
  release(
    id: number,
    receipt: string,
    availableAt: number,
    lastError: string | null,
    now: number,
  ): boolean {
    return (
      statement(
        this.db,
        `UPDATE agent_message
            SET status = 'pending', available_at = ?, lease_expires_at = NULL, receipt = NULL,
                last_error = coalesce(?, last_error), delivered_at = coalesce(delivered_at, ?)
          WHERE id = ? AND status = 'delivered' AND receipt = ?`,
      ).run(availableAt, lastError, now, id, receipt).changes === 1
    );
  }

  /**
   * Moves a message from one of `from` to a final status (`failed`, `expired`). A delivered
   * message is only finished through the delivery holding `receipt`.
   */
  finish(
    id: number,
    from: MessageStatus,
    receipt: string | null,
    to: "failed" | "expired",
    lastError: string | null,
    now: number,
  ): boolean {
    return (
      statement(
        this.db,
        `UPDATE agent_message
            SET status = ?, finished_at = ?, lease_expires_at = NULL,
                last_error = coalesce(?, last_error)
          WHERE id = ? AND status = ? AND receipt IS ?`,
      ).run(to, now, lastError, id, from, receipt).changes === 1
    );
  }

  /** Puts a failed or expired message back to pending with fresh attempts and a new expiry. */
  requeue(id: number, expiresAt: number, now: number): boolean {
    return (
      statement(
        this.db,
        `UPDATE agent_message
            SET status = 'pending', attempts = 0, available_at = ?, expires_at = ?,
                lease_expires_at = NULL, receipt = NULL, delivered_to = NULL, finished_at = NULL
          WHERE id = ? AND status IN ('failed','expired')`,
      ).run(now, expiresAt, id).changes === 1
    );
  }

  /** The newest `limit` messages matching the filter, oldest first. */
  list(filter: MessageFilter): MessageRow[] {
    const where: string[] = [];
    const params: unknown[] = [];
    let index = "";
    if (filter.status !== undefined) {
      where.push("status = ?");
      params.push(filter.status);
      if (filter.status === "failed" || filter.status === "expired") {
        where.push("status IN ('failed','expired')");
        index = "INDEXED BY agent_message_dead";
      }
    }
    if (filter.to !== undefined) {
      where.push("to_agent = ?");
      params.push(filter.to);
    }
    if (filter.from !== undefined) {
      where.push("from_agent = ?");
      params.push(filter.from);
    }
    const clause = where.length ? `WHERE ${where.join(" AND ")}` : "";
    return statement<unknown[], MessageRow>(
      this.db,
      `SELECT * FROM agent_message ${index} ${clause} ORDER BY id DESC LIMIT ?`,
    )
      .all(...params, filter.limit)
      .reverse();
  }
}
