import { describe, expect, it } from "vitest";
import { Annotations } from "./annotations.js";
import { annotateResult } from "./main.js";

describe("annotateResult", () => {
  it("annotates stalled, critical and dead agents and failed ones as errors, healthy ones not at all", () => {
    const a = new Annotations();
    annotateResult(
      {
        agents: [
          { agent_id: "dev-1", health: "stalled", reasons: ["no heartbeat for 6m"], task_id: "x" },
          { agent_id: "dev-2", health: "critical", reasons: ["memory 2.5 GiB"], task_id: "y" },
          { agent_id: "dev-3", health: "dead", reasons: [], task_id: "z" },
          { agent_id: "dev-4", health: "healthy", status: "running", task_id: "w" },
          { agent_id: "dev-5", status: "failed", end_reason: "exited 3", task_id: "v" },
        ],
      },
      a,
    );
    expect(a.errors.map((e) => e.title)).toEqual([
      "agent dev-1 is stalled",
      "agent dev-2 is critical",
      "agent dev-3 is dead",
      "agent dev-5 failed",
    ]);
    expect(a.errors[0]!.message).toBe("no heartbeat for 6m");
    expect(a.errors[3]!.message).toBe("exited 3");
    expect(a.warnings).toEqual([]);
  });

  it("reads the agents of `agents report` under now, and warns of a merge conflict with its paths", () => {
    const a = new Annotations();
    annotateResult(
      { now: { agents: [{ agent_id: "qa-1", health: "stalled", reasons: ["r"] }] } },
      a,
    );
    annotateResult({ task_id: "theme-dark", status: "conflict", conflicts: ["src/theme.css"] }, a);
    annotateResult({ task_id: "ok", status: "merged", conflicts: [] }, a);
    annotateResult(null, a);
    expect(a.errors.map((e) => e.title)).toEqual(["agent qa-1 is stalled"]);
    expect(a.warnings).toEqual([
      { title: "task theme-dark conflicts", message: "merge conflict in src/theme.css" },
    ]);
  });
});
