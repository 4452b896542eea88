// route: the message bus against the same loops written the plain way (a poll query without
// the partial index, default SQLite settings: rollback journal, synchronous=FULL), measured in
// the same run on the same disk.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import {
  acknowledgeMessage,
  acknowledgeMessages,
  type Orchestrator,
  openOrchestrator,
  pollMessages,
  sendMessage,
  sendMessages,
  waitForMessages,
} from "../packages/core/src/index.js";
import { line, report, summarize } from "./lib.js";

const TARGET = "code_developer";
const here = fileURLToPath(import.meta.url);

// ---------------------------------------------------------------------------------------------
// The plain way: one table, no partial index, default settings.

const PLAIN_SCHEMA = `
  CREATE TABLE agent_message (
    id INTEGER PRIMARY KEY, from_agent TEXT NOT NULL, to_agent TEXT NOT NULL,
    message_type TEXT NOT NULL, content TEXT NOT NULL, priority INTEGER NOT NULL DEFAULT 1,
    status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
    receipt TEXT, lease_expires_at INTEGER, created_at INTEGER NOT NULL)`;

class Plain {
  readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly select: Database.Statement;
  private readonly deliver: Database.Statement;
  private readonly ack: Database.Statement;
  constructor(file: string) {
    this.db = new Database(file);
    this.db.exec(PLAIN_SCHEMA);
    this.insert = this.db.prepare(
      "INSERT INTO agent_message (from_agent, to_agent, message_type, content, created_at) VALUES (?, ?, ?, ?, ?)",
    );
    this.select = this.db.prepare(
      "SELECT id, from_agent, content FROM agent_message WHERE to_agent = ? AND status = 'pending' ORDER BY priority, id LIMIT ?",
    );
    this.deliver = this.db.prepare(
      "UPDATE agent_message SET status = 'delivered', attempts = attempts + 1, receipt = ?, lease_expires_at = ? WHERE id = ? AND status = 'pending'",
    );
    this.ack = this.db.prepare(
      "UPDATE agent_message SET status = 'acknowledged' WHERE id = ? AND receipt = ? AND status = 'delivered'",
    );
  }
  send(content: string): void {
    this.insert.run("architect", TARGET, "spec_ready", content, Date.now());
  }
  poll(limit: number): { id: number; receipt: string; content: string }[] {
    const rows = this.select.all(TARGET, limit) as { id: number; content: string }[];
    return rows.map((r) => {
      const receipt = Math.random().toString(36).slice(2);
      this.deliver.run(receipt, Date.now() + 60_000, r.id);
      return { ...r, receipt };
    });
  }
  acknowledge(id: number, receipt: string): void {
    this.ack.run(id, receipt);
  }
  tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }
}

// ---------------------------------------------------------------------------------------------
// The floor: the same row and index writes on our schema and settings as bare statements (no
// checks, no sweep, the id already known), to show what SQLite and this disk allow.

class BareWrites {
  private readonly insert: Database.Statement;
  private readonly deliver: Database.Statement;
  private readonly ack: Database.Statement;
  constructor(private readonly db: Database.Database) {
    this.insert = db.prepare(
      `INSERT INTO agent_message (from_agent, to_agent, to_kind, message_type, content, priority,
                                  max_attempts, available_at, expires_at, created_at)
       VALUES ('architect', ?, 'type', 'spec_ready', '{"n":1}', 1, 3, ?, ?, ?)`,
    );
    this.deliver = db.prepare(
      `UPDATE agent_message SET status = 'delivered', attempts = attempts + 1, receipt = 'r',
              lease_expires_at = ?, delivered_to = ?, delivered_at = ? WHERE id = ?`,
    );
    this.ack = db.prepare(
      "UPDATE agent_message SET status = 'acknowledged', finished_at = ? WHERE id = ?",
    );
  }
  lifecycle(size: number): () => void {
    const run = this.db.transaction((fn: () => void) => fn()).immediate;
    const tx = (fn: () => void) => run(fn);
    return () => {
      const now = Date.now();
      const ids: number[] = [];
      tx(() => {
        for (let i = 0; i < size; i++) {
          ids.push(Number(this.insert.run(TARGET, now, now + 86_400_000, now).lastInsertRowid));
        }
      });
      tx(() => {
        for (const id of ids) this.deliver.run(now + 60_000, TARGET, now, id);
      });
      tx(() => {
        for (const id of ids) this.ack.run(now, id);
      });
    };
  }
}

// ---------------------------------------------------------------------------------------------

/** Messages per second of `step` (which handles `perStep` messages), run for about `seconds`. */
function rate(step: () => void, perStep: number, seconds: number): number {
  for (let i = 0; i < 20; i++) step(); // warm-up
  let n = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 10; i++) step();
    n += 10 * perStep;
  }
  return n / ((performance.now() - start) / 1000);
}

function oursAt(dir: string): Orchestrator {
  return openOrchestrator({ db: join(dir, "ours.db"), repo: dir });
}

function lifecycleOne(o: Orchestrator): () => void {
  return () => {
    sendMessage(o, { from: "architect", to: TARGET, type: "spec_ready", content: '{"n":1}' });
    const m = pollMessages(o, { target: TARGET, limit: 1 }).messages[0]!;
    acknowledgeMessage(o, { messageId: m.message_id, receipt: m.receipt });
  };
}

function plainLifecycleOne(p: Plain): () => void {
  return () => {
    p.send('{"n":1}');
    const m = p.tx(() => p.poll(1))[0]!;
    p.acknowledge(m.id, m.receipt);
  };
}

function lifecycleBatch(o: Orchestrator, size: number): () => void {
  const batch = Array.from({ length: size }, () => ({
    from: "architect",
    to: TARGET,
    type: "spec_ready",
    content: '{"n":1}',
  }));
  return () => {
    sendMessages(o, batch);
    const got = pollMessages(o, { target: TARGET, limit: size }).messages;
    acknowledgeMessages(
      o,
      got.map((m) => ({ messageId: m.message_id, receipt: m.receipt })),
    );
  };
}

function plainLifecycleBatch(p: Plain, size: number): () => void {
  return () => {
    p.tx(() => {
      for (let i = 0; i < size; i++) p.send('{"n":1}');
    });
    const got = p.tx(() => p.poll(size));
    p.tx(() => {
      for (const m of got) p.acknowledge(m.id, m.receipt);
    });
  };
}

/** Adds `n` acknowledged messages in one statement. */
function fillAcknowledged(db: Database.Database, n: number, ours: boolean): void {
  const columns = ours
    ? "from_agent, to_agent, to_kind, message_type, content, status, attempts, available_at, expires_at, created_at, finished_at"
    : "from_agent, to_agent, message_type, content, status, attempts, created_at";
  const values = ours
    ? "'architect', 'code_developer', 'type', 'spec_ready', '{\"n\":1}', 'acknowledged', 1, 0, 0, 0, 0"
    : "'architect', 'code_developer', 'spec_ready', '{\"n\":1}', 'acknowledged', 1, 0";
  db.transaction(() => {
    db.prepare(
      `WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?)
       INSERT INTO agent_message (${columns}) SELECT ${values} FROM k`,
    ).run(n);
  })();
}

// ---------------------------------------------------------------------------------------------
// Cross-process: a receiver process long-polls; this process sends at a fixed rate.

const RATE = 200;
const CROSS_MESSAGES = 1_000;

async function receiver(kind: "ours" | "plain", dir: string): Promise<void> {
  const latencies: number[] = [];
  const wallNow = () => performance.timeOrigin + performance.now();
  const record = (content: string | unknown) => {
    const c = (typeof content === "string" ? JSON.parse(content) : content) as { t: number };
    if (c.t < 0) return true;
    latencies.push(wallNow() - c.t);
    return false;
  };
  let done = false;
  if (kind === "ours") {
    const o = oursAt(dir);
    process.stdout.write("ready\n");
    while (!done) {
      const { messages } = await waitForMessages(o, { target: TARGET, limit: 100, wait: 10_000 });
      for (const m of messages) done = record(m.content) || done;
      acknowledgeMessages(
        o,
        messages.map((m) => ({ messageId: m.message_id, receipt: m.receipt })),
      );
    }
  } else {
    const db = new Database(join(dir, "plain.db"));
    const select = db.prepare(
      "SELECT id, content FROM agent_message WHERE to_agent = ? AND status = 'pending' ORDER BY priority, id LIMIT 1000",
    );
    const deliver = db.prepare("UPDATE agent_message SET status = 'delivered' WHERE id = ?");
    const ack = db.prepare("UPDATE agent_message SET status = 'acknowledged' WHERE id = ?");
    process.stdout.write("ready\n");
    while (!done) {
      // The plain way: look once a second, as the anchors do.
      await new Promise((r) => setTimeout(r, 1_000));
      const got = db
        .transaction(() => {
          const rows = select.all(TARGET) as { id: number; content: string }[];
          for (const r of rows) deliver.run(r.id);
          return rows;
        })
        .immediate();
      for (const r of got) done = record(r.content) || done;
      db.transaction(() => {
        for (const r of got) ack.run(r.id);
      }).immediate();
    }
  }
  process.stdout.write(`${JSON.stringify(latencies)}\n`);
  process.exit(0);
}

async function crossProcess(kind: "ours" | "plain", dir: string): Promise<number[]> {
  let send: (content: string) => void;
  let close: () => void;
  if (kind === "ours") {
    const o = oursAt(dir);
    send = (content) => sendMessage(o, { from: "architect", to: TARGET, type: "x", content });
    close = () => o.close();
  } else {
    const p = new Plain(join(dir, "plain.db"));
    send = (content) => p.send(content);
    close = () => p.db.close();
  }
  const child = spawn(process.execPath, [here, "receive", kind, dir], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  while (!out.includes("ready\n")) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 200));
  const start = performance.now();
  for (let i = 0; i < CROSS_MESSAGES; i++) {
    const due = start + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    send(JSON.stringify({ t: performance.timeOrigin + performance.now(), i }));
  }
  send(JSON.stringify({ t: -1 }));
  await new Promise((r) => child.on("exit", r));
  close();
  return JSON.parse(out.split("\n").filter(Boolean).at(-1)!) as number[];
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "orch-bench-route-"));
  writeFileSync(join(dir, "orchestrator.config.yaml"), "{}\n");
  try {
    console.log(`databases in ${dir} (on disk); plain = no partial index, default settings`);
    console.log(
      "floor = our schema and settings, only the row writes (no checks): what SQLite allows",
    );
    {
      const o = oursAt(dir);
      const p = new Plain(join(dir, "plain-1.db"));
      const ours = rate(lifecycleOne(o), 1, 3);
      const plain = rate(plainLifecycleOne(p), 1, 3);
      report("send → poll → acknowledge, one message per transaction", ours, plain, "plain", "/s");
      const oursBatch = rate(lifecycleBatch(o, 100), 100, 3);
      const plainBatch = rate(plainLifecycleBatch(p, 100), 100, 3);
      report(
        "send → poll → acknowledge, --limit 100 batches",
        oursBatch,
        plainBatch,
        "plain",
        "/s",
      );
      const floorDir = mkdtempSync(join(dir, "floor-"));
      const floor = openOrchestrator({ db: join(floorDir, "floor.db"), repo: floorDir });
      const bare = new BareWrites(floor.db);
      report(
        "  the same writes as bare statements, one per transaction",
        rate(bare.lifecycle(1), 1, 3),
        ours,
        "ours",
        "/s",
      );
      report(
        "  the same writes as bare statements, 100 per transaction",
        rate(bare.lifecycle(100), 100, 3),
        oursBatch,
        "ours",
        "/s",
      );
      floor.close();
      o.close();
      p.db.close();
    }
    {
      // Claim latency with 0 and with 1,000,000 acknowledged rows in the table.
      const fresh = mkdtempSync(join(dir, "claim-"));
      writeFileSync(join(fresh, "orchestrator.config.yaml"), "{}\n");
      const o = openOrchestrator({ db: join(fresh, "ours.db"), repo: fresh });
      const p = new Plain(join(fresh, "plain.db"));
      const claimOurs = () => {
        sendMessage(o, { from: "architect", to: TARGET, type: "x", content: "{}" });
        return () => pollMessages(o, { target: TARGET, limit: 1 });
      };
      const measure = (prepare: () => () => unknown, runs: number) => {
        const samples: number[] = [];
        for (let i = 0; i < runs + 20; i++) {
          const claim = prepare();
          const start = performance.now();
          claim();
          if (i >= 20) samples.push(performance.now() - start);
        }
        return summarize(samples);
      };
      const claimPlain = () => {
        p.send("{}");
        return () => p.tx(() => p.poll(1));
      };
      const emptyOurs = measure(claimOurs, 2_000);
      const emptyPlain = measure(claimPlain, 200);
      fillAcknowledged(o.db, 1_000_000, true);
      fillAcknowledged(p.db, 1_000_000, false);
      const fullOurs = measure(claimOurs, 2_000);
      const fullPlain = measure(claimPlain, 50);
      report(
        "claim (poll --limit 1), empty table, median",
        emptyOurs.median,
        emptyPlain.median,
        "plain",
      );
      report(
        "claim, 1,000,000 acknowledged rows, median",
        fullOurs.median,
        fullPlain.median,
        "plain",
      );
      report("claim, 1,000,000 acknowledged rows, p99", fullOurs.p99, fullPlain.p99, "plain");
      line(
        "claim flatness: ours 1M rows / empty (median)",
        `${(fullOurs.median / emptyOurs.median).toFixed(2)}x   plain: ${(fullPlain.median / emptyPlain.median).toFixed(1)}x`,
      );
      o.close();
      p.db.close();
    }
    {
      const ours = summarize(await crossProcess("ours", dir));
      const plain = summarize(await crossProcess("plain", dir));
      report(
        `cross-process send → receive at ${RATE}/s, long poll, median`,
        ours.median,
        plain.median,
        "plain 1 s poll",
      );
      report(
        `cross-process send → receive at ${RATE}/s, long poll, p99`,
        ours.p99,
        plain.p99,
        "plain 1 s poll",
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === "receive") {
  await receiver(process.argv[3] as "ours" | "plain", process.argv[4]!);
} else {
  await main();
}
