import { randomUUID } from "node:crypto";
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

const CANDIDATE_COLUMNS =
  "id, from_agent, to_agent, to_kind, message_type, content, priority, attempts";

// Candidates are read from the partial index agent_message_pending in delivery order; each is
// then taken by a conditional UPDATE (by primary key), so a row no longer pending is skipped.
// Parameters are written `+:name`: a bare parameter in an equality that also feeds ORDER BY
// makes SQLite (built with STAT4) re-plan the statement on every new binding, which cost
// ~35 µs per claim; `+` keeps the same plan and index (see bench/route.bench.ts).
const TYPE_CANDIDATES = `
  SELECT ${CANDIDATE_COLUMNS} FROM agent_message INDEXED BY agent_message_pending
   WHERE status = 'pending' AND to_agent = +:type AND to_kind = 'type'
     AND available_at <= +:now AND expires_at > +:now
   ORDER BY priority, id LIMIT +:limit`;

const AGENT_CANDIDATES = `
  SELECT * FROM (
    SELECT * FROM (
      SELECT ${CANDIDATE_COLUMNS} FROM agent_message INDEXED BY agent_message_pending
       WHERE status = 'pending' AND to_agent = +:type AND to_kind = 'type'
         AND available_at <= +:now AND expires_at > +:now
       ORDER BY priority, id LIMIT +:limit)
    UNION ALL
    SELECT * FROM (
      SELECT ${CANDIDATE_COLUMNS} FROM agent_message INDEXED BY agent_message_pending
       WHERE status = 'pending' AND to_agent = +:agent AND to_kind = 'agent'
         AND available_at <= +:now AND expires_at > +:now
       ORDER BY priority, id LIMIT +:limit))
   ORDER BY priority, id LIMIT +:limit`;

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
    const candidates = statement<
      Record<string, unknown>,
      Omit<ClaimedRow, "receipt" | "lease_expires_at">
    >(this.db, recipient.agentId === null ? TYPE_CANDIDATES : AGENT_CANDIDATES).all({
      type: recipient.agentType,
      ...(recipient.agentId === null ? {} : { agent: recipient.agentId }),
      now,
      limit,
    });
    const deliver = statement(
      this.db,
      `UPDATE agent_message
          SET status = 'delivered', attempts = attempts + 1, receipt = ?, lease_expires_at = ?,
              delivered_to = ?, delivered_at = ?
        WHERE id = ? AND status = 'pending'`,
    );
    const deliveredTo = recipient.agentId ?? recipient.agentType;
    const claimed: ClaimedRow[] = [];
    for (const row of candidates) {
      const receipt = randomUUID();
      if (deliver.run(receipt, leaseExpiresAt, deliveredTo, now, row.id).changes !== 1) continue;
      claimed.push({
        ...row,
        attempts: row.attempts + 1,
        receipt,
        lease_expires_at: leaseExpiresAt,
      });
    }
    return claimed;
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

  /** Acknowledges the current delivery; false unless `receipt` holds an unexpired lease. */
  acknowledge(id: number, receipt: string, now: number): boolean {
    return (
      statement(
        this.db,
        `UPDATE agent_message SET status = 'acknowledged', finished_at = ?
          WHERE id = ? AND status = 'delivered' AND receipt = ? AND lease_expires_at > ?`,
      ).run(now, id, receipt, now).changes === 1
    );
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
