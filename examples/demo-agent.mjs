#!/usr/bin/env node
// The demo's agent. In its task's worktree it writes a file named after the task (the two
// theme tasks write the same file, so one of their merges conflicts), tells the orchestrator
// it is alive and what it did, takes a moment like real work would, and commits.
// Usage (from orchestrator.config.yaml): node tools/demo-agent.mjs "{title}"
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const taskId = process.env.ORCHESTRATOR_TASK_ID;
const agentId = process.env.ORCHESTRATOR_AGENT_ID;
const cli = JSON.parse(process.env.ORCHESTRATOR_CLI ?? "[]");
const title = process.argv[2] ?? taskId;
const seconds = Number(process.env.DEMO_AGENT_SECONDS ?? "1.5");

/** Calls the orchestrator's CLI, as any agent may (ORCHESTRATOR_DB tells it which database). */
function orchestrator(...args) {
  execFileSync(cli[0], [...cli.slice(1), ...args], { stdio: ["ignore", "ignore", "inherit"] });
}

const git = (...args) =>
  execFileSync("git", args, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });

orchestrator("agents", "heartbeat", "--agent-id", agentId, "--status", "working");
// Resumed after its work was committed (a run stopped at just that moment): nothing to redo.
if (git("log", "-1", "--format=%s").startsWith(`task ${taskId}:`)) {
  console.log(`${agentId}: ${taskId} was already committed`);
  process.exit(0);
}
const file = taskId.startsWith("theme-") ? "settings/theme.txt" : `work/${taskId}.md`;
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, `# ${title}\n\nDone by ${agentId} for task ${taskId}.\n`);
await sleep((seconds * 1000) / 2);
orchestrator("agents", "heartbeat", "--agent-id", agentId, "--status", "working");
await sleep((seconds * 1000) / 2);
git("add", file);
git("commit", "-q", "-m", `task ${taskId}: ${title}`);
orchestrator(
  "route",
  "send",
  "--from",
  agentId,
  "--to",
  "orchestrator",
  "--type",
  "status_update",
  "--content",
  JSON.stringify({ task_id: taskId, status: "committed", file }),
);
console.log(`${agentId}: committed ${file} for ${taskId}`);
