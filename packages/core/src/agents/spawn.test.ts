import { describe, expect, it } from "vitest";
import { testOrchestrator } from "../../../../test/helpers/orchestrator.js";
import { sampleProcess } from "./process.js";
import { reapVanished, spawnAgent } from "./spawn.js";

const self = sampleProcess(process.pid)!;

function runningAgent(
  o: ReturnType<typeof testOrchestrator>,
  agent: { pidStart: string; supervisorStart: string },
) {
  o.agents.insert(
    {
      agent_id: "dev-1",
      agent_type: "dev",
      singleton: false,
      task_id: null,
      worktree_path: null,
      log_path: "dev-1.log",
      restart_of: null,
    },
    o.now(),
  );
  o.agents.setSupervisor("dev-1", process.pid, agent.supervisorStart, o.now());
  // This process's pid with another start time: a process that no longer exists.
  o.agents.markRunning("dev-1", process.pid, agent.pidStart, o.now());
}

describe("reapVanished", () => {
  it("does not reap an agent that exited while its supervisor, about to record the exit, lives", () => {
    const o = testOrchestrator();
    runningAgent(o, { pidStart: "gone", supervisorStart: self.startTime });
    expect(o.write(() => reapVanished(o, o.agents.live()))).toEqual([]);
    expect(o.agents.get("dev-1")!.status).toBe("running");
  });

  it("reaps it once both the agent and its supervisor are gone", () => {
    const o = testOrchestrator();
    runningAgent(o, { pidStart: "gone", supervisorStart: "gone too" });
    expect(o.write(() => reapVanished(o, o.agents.live())).map((r) => r.agent_id)).toEqual([
      "dev-1",
    ]);
    expect(o.agents.get("dev-1")).toMatchObject({
      status: "failed",
      end_reason: "vanished: its process is gone",
    });
  });
});

describe("a starting agent without a supervisor yet", () => {
  function starting(o: ReturnType<typeof testOrchestrator>, spawnerStart: string) {
    o.agents.insert(
      {
        agent_id: "dev-1",
        agent_type: "dev",
        singleton: true,
        task_id: null,
        worktree_path: null,
        log_path: "dev-1.log",
        restart_of: null,
        spawner_pid: process.pid,
        spawner_start_time: spawnerStart,
      },
      o.now(),
    );
  }

  it("belongs to its live spawner, about to launch the supervisor", () => {
    const o = testOrchestrator();
    starting(o, self.startTime);
    expect(o.write(() => reapVanished(o, o.agents.live()))).toEqual([]);
  });

  it("is released at once when its spawner was killed, not after the 30 s start timeout (chaos)", () => {
    const o = testOrchestrator();
    starting(o, "a spawner that no longer exists");
    expect(o.write(() => reapVanished(o, o.agents.live())).map((r) => r.agent_id)).toEqual([
      "dev-1",
    ]);
    expect(o.agents.get("dev-1")!.status).toBe("failed");
  });
});

describe("spawnAgent", () => {
  it("fails at once, naming the supervisor, when the supervisor dies before starting the agent (it waited 30 s)", async () => {
    const o = testOrchestrator();
    o.config.agents.dev = { command: ["true"], max_instances: 2, heartbeat: "process", env: {} };
    const started = Date.now();
    await expect(
      spawnAgent(o, { agentType: "dev", supervisorCommand: [process.execPath, "-e", ""] }),
    ).rejects.toThrow(/its supervisor \(pid \d+\) died before starting it/);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(o.agents.live()).toEqual([]);
  });
});
