// Several real processes on one database: 4 pollers and 2 senders, pollers killed with SIGKILL
// at random moments and restarted. At the end every message is acknowledged or a dead letter
// after its last attempt; none is lost; none is acknowledged twice.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openOrchestrator } from "../packages/core/src/index.js";
import { ROOT } from "./helpers/cli.js";

// The full 10,000 messages everywhere: the test takes ~8 s on a 2-core machine.
const TOTAL = 10_000;
const SENDERS = ["sender-a", "sender-b"];
const POLLERS = 4;
const MAX_ATTEMPTS = 3;

let dir: string;
let corePath: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "orch-route-race-"));
  corePath = join(dir, "core.mjs");
  // The workers run the real core, bundled the way the CLI is; better-sqlite3 (a native addon)
  // stays outside the bundle and is loaded from packages/db, where pnpm installed it.
  await build({
    entryPoints: [join(ROOT, "packages", "core", "src", "index.ts")],
    outfile: corePath,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node22",
    plugins: [
      {
        name: "better-sqlite3-from-packages-db",
        setup(b) {
          const dbRequire = createRequire(join(ROOT, "packages", "db", "package.json"));
          b.onResolve({ filter: /^better-sqlite3$/ }, () => ({
            path: dbRequire.resolve("better-sqlite3"),
            external: true,
          }));
        },
      },
    ],
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
    logLevel: "warning",
  });
  writeFileSync(
    join(dir, "orchestrator.config.yaml"),
    [
      "agents:",
      "  worker: { command: [worker], max_instances: 4 }",
      "messages:",
      `  max_attempts: ${MAX_ATTEMPTS}`,
      "  backoff_base: 50ms",
      "  backoff_max: 400ms",
      "",
    ].join("\n"),
  );
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function run(script: string, args: string[]): ChildProcess {
  const child = spawn(process.execPath, [join(ROOT, "test", "fixtures", script), ...args], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  child.on("exit", (code, signal) => {
    if (code !== 0 && signal === null) console.error(`${script} exited ${code}: ${stderr}`);
  });
  return child;
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once("exit", (code) => resolve(code));
  });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it("loses nothing and acknowledges nothing twice with pollers killed at random", async () => {
  const db = join(dir, "orchestrator.db");
  const o = openOrchestrator({ db, repo: dir });
  const counts = () =>
    o.db
      .prepare(
        "SELECT status, count(*) AS n FROM agent_message WHERE message_type = 'load' GROUP BY status",
      )
      .all() as { status: string; n: number }[];

  let incarnation = 0;
  const startPoller = () =>
    run("route-poller.mjs", [corePath, db, dir, join(dir, `acks.${incarnation++}.log`)]);
  const pollers = Array.from({ length: POLLERS }, startPoller);
  const senders = SENDERS.map((name) =>
    run("route-sender.mjs", [corePath, db, dir, name, String(TOTAL / SENDERS.length)]),
  );
  const sendersDone = Promise.all(senders.map(exited));
  let sent = false;
  void sendersDone.then((codes) => {
    sent = true;
    if (codes.some((c) => c !== 0)) failure = new Error(`a sender failed: ${codes.join(", ")}`);
  });
  let failure: Error | undefined;

  const started = Date.now();
  let kills = 0;
  try {
    // Kill a random poller every 50-300 ms while messages flow, and restart it at once.
    for (;;) {
      await sleep(50 + Math.random() * 250);
      const finished = counts()
        .filter((c) => c.status === "acknowledged" || c.status === "failed")
        .reduce((s, c) => s + c.n, 0);
      if (failure) throw failure;
      if (sent && finished === TOTAL) break;
      if (Date.now() - started > 50_000) throw new Error(`timed out: ${JSON.stringify(counts())}`);
      if (sent && Date.now() - started > 2_000 && finished > TOTAL * 0.97) continue; // let it drain
      const victim = Math.floor(Math.random() * POLLERS);
      pollers[victim]!.kill("SIGKILL");
      await exited(pollers[victim]!);
      pollers[victim] = startPoller();
      kills++;
    }
  } finally {
    for (const p of pollers) p.kill("SIGKILL");
    await Promise.all(pollers.map(exited));
  }
  expect(await sendersDone).toEqual(SENDERS.map(() => 0));

  // Every message the senders were given an id for is in the table, exactly once per (sender, seq).
  const rows = o.db
    .prepare(
      "SELECT id, from_agent, content, status, attempts, receipt FROM agent_message WHERE message_type = 'load'",
    )
    .all() as {
    id: number;
    from_agent: string;
    content: string;
    status: string;
    attempts: number;
    receipt: string;
  }[];
  expect(rows).toHaveLength(TOTAL);
  const sentIds = SENDERS.flatMap(
    (name) => JSON.parse(readFileSync(`${db}.${name}.sent`, "utf8")) as number[],
  );
  expect(new Set(sentIds).size).toBe(TOTAL);
  expect(new Set(rows.map((r) => r.id))).toEqual(new Set(sentIds));
  const keys = new Set(
    rows.map((r) => {
      const c = JSON.parse(r.content) as { from: string; seq: number };
      return `${c.from}/${c.seq}`;
    }),
  );
  expect(keys.size).toBe(TOTAL);

  // Every message ended acknowledged, or failed only after its last attempt.
  const byId = new Map(rows.map((r) => [r.id, r]));
  const unfinished = rows.filter(
    (r) => !(r.status === "acknowledged" || (r.status === "failed" && r.attempts === MAX_ATTEMPTS)),
  );
  expect(unfinished).toEqual([]);

  // No message acknowledged twice: the logs of every poller incarnation hold each id once, and
  // with the receipt of the delivery the database recorded as acknowledged.
  const acks = readdirSync(dir)
    .filter((f) => f.startsWith("acks."))
    .flatMap((f) => readFileSync(join(dir, f), "utf8").split("\n").filter(Boolean))
    .map((line) => line.split(" ") as [string, string]);
  const ackedIds = acks.map(([id]) => Number(id));
  const seen = new Set<number>();
  const duplicates = ackedIds.filter((id) => seen.has(id) || !seen.add(id));
  expect(duplicates).toEqual([]);
  for (const [id, receipt] of acks) {
    const row = byId.get(Number(id))!;
    expect(row.status).toBe("acknowledged");
    expect(row.receipt).toBe(receipt);
  }
  // A poller may die between its acknowledgement and its log line, never more often than kills.
  const acknowledged = rows.filter((r) => r.status === "acknowledged").length;
  expect(acknowledged - acks.length).toBeLessThanOrEqual(kills);

  // The test exercised what it claims: kills happened and deliveries were repeated.
  expect(kills).toBeGreaterThanOrEqual(3);
  expect(rows.filter((r) => r.attempts > 1).length).toBeGreaterThan(0);
  console.log(
    `route race: ${TOTAL} messages, ${kills} pollers killed, ${rows.filter((r) => r.attempts > 1).length} redelivered, ${rows.filter((r) => r.status === "failed").length} dead letters, ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  expect(existsSync(db)).toBe(true);
  o.close();
});
