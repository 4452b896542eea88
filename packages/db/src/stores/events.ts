import type { Db } from "../connection.js";
import { statement } from "../statements.js";

export interface EventRow {
  id: number;
  at: number;
  kind: string;
  task_id: string | null;
  agent_id: string | null;
  message_id: number | null;
  detail: string | null;
}

export interface NewEvent {
  kind: string;
  task_id?: string | null;
  agent_id?: string | null;
  message_id?: number | null;
  detail?: Record<string, unknown> | null;
}

/** orchestrator_event: one row per state change (CFR-014). */
export class EventStore {
  constructor(private readonly db: Db) {}

  record(event: NewEvent, at: number): void {
    statement(
      this.db,
      `INSERT INTO orchestrator_event (at, kind, task_id, agent_id, message_id, detail)
       VALUES (?, ?, ?, ?, ?, ?)`,
    ).run(
      at,
      event.kind,
      event.task_id ?? null,
      event.agent_id ?? null,
      event.message_id ?? null,
      event.detail ? JSON.stringify(event.detail) : null,
    );
  }

  since(at: number, limit = 10_000): EventRow[] {
    return statement<[number, number], EventRow>(
      this.db,
      "SELECT * FROM orchestrator_event WHERE at >= ? ORDER BY id LIMIT ?",
    ).all(at, limit);
  }

  forTask(taskId: string): EventRow[] {
    return statement<[string], EventRow>(
      this.db,
      "SELECT * FROM orchestrator_event WHERE task_id = ? ORDER BY id",
    ).all(taskId);
  }
}
