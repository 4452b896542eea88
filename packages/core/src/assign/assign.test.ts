import { describe, expect, it } from "vitest";
import { plan, snapshot, testOrchestrator } from "../../../../test/helpers/orchestrator.js";
import { OrchestratorError } from "../errors.js";
import { completeTask, failTask, importPlan } from "../tasks/index.js";
import { assign } from "./index.js";

describe("assign", () => {
  it("assigns ready tasks by priority, then critical path, then id, up to max_parallel", () => {
    const o = testOrchestrator();
    importPlan(
      o,
      plan(
        { low: [], chain1: [], chain2: ["chain1"], chain3: ["chain2"], lone: [], blocked: ["low"] },
        { low: { priority: 500 } },
      ),
    );
    const result = assign(o, { maxParallel: 2 });
    expect(result.status).toBe("assigned");
    expect(result.assignments.map((a) => a.task_id)).toEqual(["chain1", "lone"]);
    expect(result).toMatchObject({ tasks_assigned: 2, running: 2, blocked_tasks: 3 });
    expect(o.tasks.get("chain1")!.status).toBe("assigned");
    expect(o.assignments.active("chain1")).toMatchObject({
      status: "assigned",
      agent_type: "code_developer",
    });
  });

  it("counts work already running against max_parallel and reports at_capacity", () => {
    const o = testOrchestrator();
    importPlan(o, plan({ a: [], b: [], c: [], d: [] }));
    expect(assign(o, { maxParallel: 3 }).tasks_assigned).toBe(3);
    const full = assign(o, { maxParallel: 3 });
    expect(full).toMatchObject({ status: "at_capacity", tasks_assigned: 0, running: 3 });
    completeTask(o, "a");
    expect(assign(o, { maxParallel: 3 }).assignments.map((a) => a.task_id)).toEqual(["d"]);
  });

  it("counts a failed task whose agent is due a restart against max_parallel (chaos seed 7)", () => {
    const o = testOrchestrator();
    importPlan(o, plan({ a: [], b: [], c: [], d: [] }));
    expect(assign(o, { maxParallel: 3 }).tasks_assigned).toBe(3);
    // a's agent crashed: the task fails, and health --auto-restart will put it back to work.
    o.write(() => {
      o.agents.insert(
        {
          agent_id: "code_developer-1",
          agent_type: "code_developer",
          singleton: false,
          task_id: "a",
          worktree_path: null,
          log_path: "/dev/null",
          restart_of: null,
        },
        o.now(),
      );
      o.agents.end(
        "code_developer-1",
        { status: "failed", end_reason: "exited with code 1" },
        o.now(),
      );
    });
    failTask(o, "a", "agent code_developer-1 exited with code 1");
    expect(assign(o, { maxParallel: 3 })).toMatchObject({
      status: "at_capacity",
      tasks_assigned: 0,
      running: 3,
    });
    // Given up on (no restart coming), the slot is free again.
    o.write(() => o.agents.setRestartState("code_developer-1", "gave_up", o.now()));
    expect(assign(o, { maxParallel: 3 }).assignments.map((x) => x.task_id)).toEqual(["d"]);
  });

  it("sends one task_assignment message per assignment to the agent type", () => {
    const o = testOrchestrator();
    importPlan(o, plan({ a: [], b: [] }, { b: { agent_type: "architect" } }));
    const result = assign(o);
    const rows = o.db
      .prepare(
        "SELECT to_agent, to_kind, message_type, content, status FROM agent_message ORDER BY id",
      )
      .all() as {
      to_agent: string;
      to_kind: string;
      message_type: string;
      content: string;
      status: string;
    }[];
    expect(rows.map((r) => [r.to_agent, r.to_kind, r.message_type, r.status])).toEqual([
      ["code_developer", "type", "task_assignment", "pending"],
      ["architect", "type", "task_assignment", "pending"],
    ]);
    expect(JSON.parse(rows[0]!.content)).toMatchObject({
      task_id: "a",
      orchestrator_task_id: result.assignments[0]!.orchestrator_task_id,
    });
  });

  it("never puts two tasks that may write the same files in flight together", () => {
    const o = testOrchestrator();
    importPlan(
      o,
      plan(
        { first: [], second: [], other: [], free: [] },
        {
          first: { files: ["src/auth/**"], priority: 1 },
          second: { files: ["src/auth/login.ts"], priority: 2 },
          other: { files: ["src/billing/**"], priority: 3 },
        },
      ),
    );
    const result = assign(o, { maxParallel: 10 });
    expect(result.assignments.map((a) => a.task_id)).toEqual(["first", "other", "free"]);
    expect(result.waiting_on_files).toEqual([
      {
        task_id: "second",
        conflicts_with: "first",
        patterns: ["src/auth/login.ts", "src/auth/**"],
      },
    ]);
    // Still held while "first" is in flight in a later run, and released once it is merged.
    expect(assign(o, { maxParallel: 10 }).waiting_on_files.map((w) => w.task_id)).toEqual([
      "second",
    ]);
    completeTask(o, "first");
    expect(assign(o, { maxParallel: 10 }).assignments.map((a) => a.task_id)).toEqual(["second"]);
  });

  it("filters by group, agent type and task ids, and explains asked-for tasks that are not ready", () => {
    const o = testOrchestrator();
    importPlan(
      o,
      plan(
        { a: [], b: [], c: ["a"], d: [] },
        { a: { group: "G1" }, b: { group: "G2" }, d: { group: "G1", agent_type: "architect" } },
      ),
    );
    expect(assign(o, { priorityId: "G1", dryRun: true }).assignments.map((a) => a.task_id)).toEqual(
      ["a", "d"],
    );
    expect(
      assign(o, { agentType: "architect", dryRun: true }).assignments.map((a) => a.task_id),
    ).toEqual(["d"]);
    const picked = assign(o, { taskIds: ["c", "b"] });
    expect(picked.assignments.map((a) => a.task_id)).toEqual(["b"]);
    expect(picked.not_ready).toEqual([{ task_id: "c", status: "blocked", blocked_by: ["a"] }]);
  });

  it("refuses unknown and hostile task ids and bad max_parallel, changing nothing", () => {
    const o = testOrchestrator();
    importPlan(o, plan({ a: [] }));
    const before = snapshot(o);
    for (const [options, code] of [
      [{ taskIds: ["a", "ghost"] }, "TaskNotFound"],
      [{ taskIds: ["../x"] }, "InvalidInput"],
      [{ taskIds: ["a;rm -rf /"] }, "InvalidInput"],
      [{ maxParallel: 0 }, "InvalidInput"],
      [{ agentType: "--exec=x" }, "InvalidInput"],
    ] as const) {
      let error: unknown;
      try {
        assign(o, options);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(OrchestratorError);
      expect((error as OrchestratorError).code).toBe(code);
    }
    expect(snapshot(o)).toEqual(before);
  });

  it("a dry run reports the same choice and writes nothing", () => {
    const o = testOrchestrator();
    importPlan(o, plan({ a: [], b: ["a"] }));
    const before = snapshot(o);
    const dry = assign(o, { dryRun: true });
    expect(dry).toMatchObject({ dry_run: true, status: "assigned", tasks_assigned: 1 });
    expect(dry.assignments[0]).toMatchObject({ task_id: "a", orchestrator_task_id: null });
    expect(snapshot(o)).toEqual(before);
  });

  it("names the root blockers when nothing is available, and says when everything is done", () => {
    const o = testOrchestrator();
    importPlan(o, plan({ a: [], b: ["a"], c: ["b"] }));
    assign(o);
    failTask(o, "a", "tests fail");
    const stuck = assign(o);
    expect(stuck.status).toBe("no_available_work");
    expect(stuck.blockers).toEqual([
      { task_id: "a", status: "failed", reason: "tests fail", waiting: 1 },
    ]);
    for (const id of ["a", "b", "c"]) completeTask(o, id);
    expect(assign(o).status).toBe("all_completed");
  });
});
