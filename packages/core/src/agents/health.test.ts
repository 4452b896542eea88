import { describe, expect, it } from "vitest";
import { testOrchestrator } from "../../../../test/helpers/orchestrator.js";
import { checkHealth } from "./health.js";
import { sampleProcess } from "./process.js";

const self = sampleProcess(process.pid)!;

describe("health --auto-restart", () => {
  it("reports a due restart of a singleton type that already runs as start_failed, instead of failing (chaos)", async () => {
    const o = testOrchestrator();
    o.config.agents.architect = {
      command: ["true"],
      max_instances: 1,
      singleton: true,
      heartbeat: "process",
      env: {},
    };
    o.write(() => {
      for (const id of ["architect-old", "architect-live"]) {
        o.agents.insert(
          {
            agent_id: id,
            agent_type: "architect",
            singleton: id === "architect-live",
            task_id: null,
            worktree_path: null,
            log_path: `${id}.log`,
            restart_of: null,
          },
          o.now(),
        );
      }
      o.agents.end(
        "architect-old",
        { status: "failed", end_reason: "exited with code 1" },
        o.now(),
      );
      // This test process stands in for the live architect.
      o.agents.setSupervisor("architect-live", process.pid, self.startTime, o.now());
      o.agents.markRunning("architect-live", process.pid, self.startTime, o.now());
    });
    o.clock.now += 60_000; // the restart is due
    const result = await checkHealth(o, { autoRestart: true, supervisorCommand: ["false"] });
    expect(result.restarts).toEqual([
      expect.objectContaining({
        agent_id: "architect-old",
        action: "start_failed",
        reason: expect.stringContaining("runs 1 of its max_instances 1"),
      }),
    ]);
    // Still due: the next check tries again once the live one has finished.
    expect(o.agents.restartable().map((a) => a.agent_id)).toEqual(["architect-old"]);
  });
});
