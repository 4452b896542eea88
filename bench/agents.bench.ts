// Issue 5: `agents health` over 50 live agents, as an in-process sweep (target < 5 ms) and as a
// whole process, each beside the same sweep done by spawning `ps` once per agent.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { classifyAgent, killAgent, openOrchestrator, spawnAgent } from "@orchestrator/core";
import { report, summarize, time } from "./lib.js";

const AGENTS = 50;
const CLI = join(import.meta.dirname, "..", "..", "packages", "cli", "dist", "orchestrator.js");

const dir = mkdtempSync(join(tmpdir(), "orch-bench-agents-"));
execFileSync("git", ["init", "-q", dir]);
writeFileSync(
  join(dir, "orchestrator.config.yaml"),
  `agents:\n  sleeper:\n    command: ["sleep", "600"]\n    max_instances: ${AGENTS}\nhealth:\n  sample_interval: 60s\n`,
);
const o = openOrchestrator({ repo: dir, cwd: dir });
const supervisorCommand = [process.execPath, CLI, "agents", "supervise"];
try {
  const start = performance.now();
  for (let i = 0; i < AGENTS; i++) await spawnAgent(o, { agentType: "sleeper", supervisorCommand });
  console.log(`spawned ${AGENTS} agents in ${((performance.now() - start) / 1000).toFixed(1)} s`);

  const sweep = time(
    () => {
      const now = Date.now();
      for (const row of o.agents.live()) classifyAgent(row, o.config, now);
    },
    200,
    10,
  );
  const psSweep = time(
    () => {
      for (const row of o.agents.live()) {
        spawnSync("ps", ["-o", "lstart=,time=,rss=", "-p", String(row.pid)], { encoding: "utf8" });
      }
    },
    5,
    1,
  );
  report(
    `in-process health sweep, ${AGENTS} agents (median)`,
    sweep.median,
    psSweep.median,
    "ps per agent",
  );

  const processRuns: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    const r = spawnSync(process.execPath, [CLI, "agents", "health", "--json"], {
      cwd: dir,
      encoding: "utf8",
    });
    processRuns.push(performance.now() - t);
    if (JSON.parse(r.stdout).result.agents.length !== AGENTS)
      throw new Error("not every agent was seen");
  }
  const psProcess = time(
    () => {
      spawnSync(process.execPath, ["-e", "0"]);
      for (const row of o.agents.live())
        spawnSync("ps", ["-o", "lstart=,time=,rss=", "-p", String(row.pid)]);
    },
    5,
    1,
  );
  report(
    `\`orchestrator agents health\` process, ${AGENTS} agents (median)`,
    summarize(processRuns).median,
    psProcess.median,
    "node -e 0 + ps per agent",
  );
} finally {
  for (const row of o.agents.live()) await killAgent(o, row.agent_id, { graceMs: 2000 });
  o.close();
  rmSync(dir, { recursive: true, force: true });
}
