import type { Db } from "../connection.js";
import { statement } from "../statements.js";

export interface NewMessage {
  from_agent: string;
  to_agent: string;
  to_kind: "agent" | "type";
  message_type: string;
  content: string;
  priority: number;
  max_attempts: number;
  expires_at: number;
  idempotency_key: string | null;
}

/** agent_message: the rows of the message bus. */
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
}
