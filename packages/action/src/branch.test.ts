import { describe, expect, it } from "vitest";
import { taskIdFromBranch } from "./branch.js";
import { mergedPullRequest } from "./event.js";

describe("task id from a task branch name", () => {
  it.each([
    ["roadmap-implementation_task-db-schema", "db-schema"],
    ["refs/heads/roadmap-implementation_task-auth.api_2", "auth.api_2"],
    ["roadmap-implementation_task-A1", "A1"],
  ])("%s → %s", (branch, id) => {
    expect(taskIdFromBranch(branch)).toBe(id);
  });

  it.each([
    "roadmap-implementation_task-",
    "roadmap-implementation_task-../etc",
    "roadmap-implementation_task-a/b",
    "roadmap-implementation_task--rf",
    "roadmap-implementation_task-a..b",
    "roadmap-implementation_task-x.lock",
    "roadmap-implementation_task-a b",
    "roadmap-implementation_task-$(id)",
    "roadmap-implementation_task-a\nb",
    `roadmap-implementation_task-${"a".repeat(65)}`,
    "roadmap-implementation_task-é",
    "feature/roadmap-implementation_task-a",
    "refs/tags/roadmap-implementation_task-a",
    "main",
    "",
  ])("refuses %j", (branch) => {
    expect(taskIdFromBranch(branch)).toBeUndefined();
  });

  it("refuses what is not a string", () => {
    expect(taskIdFromBranch(undefined)).toBeUndefined();
    expect(taskIdFromBranch({ ref: "roadmap-implementation_task-a" })).toBeUndefined();
  });
});

describe("pull_request events", () => {
  const event = (ref: unknown, merged: unknown = true, action = "closed") => ({
    action,
    pull_request: { number: 3, merged, head: { ref } },
  });

  it("a merged task branch names its task", () => {
    expect(mergedPullRequest("pull_request", event("roadmap-implementation_task-x"))).toMatchObject(
      {
        task_id: "x",
        pull_request: 3,
      },
    );
  });

  it("skips what is not a merge of a task branch", () => {
    expect(mergedPullRequest("push", {})).toHaveProperty("skipped");
    expect(
      mergedPullRequest("pull_request", event("roadmap-implementation_task-x", false)),
    ).toHaveProperty("skipped");
    expect(
      mergedPullRequest("pull_request", event("roadmap-implementation_task-x", "true")),
    ).toHaveProperty("skipped");
    expect(
      mergedPullRequest("pull_request", event("roadmap-implementation_task-x", true, "opened")),
    ).toHaveProperty("skipped");
    expect(mergedPullRequest("pull_request", event("feature"))).toHaveProperty("skipped");
  });

  it("refuses a task branch with a bad id, and a malformed event", () => {
    expect(() =>
      mergedPullRequest("pull_request", event("roadmap-implementation_task-../x")),
    ).toThrow(/valid task id/);
    expect(() => mergedPullRequest("pull_request", event(42))).toThrow(/no head branch/);
    expect(() => mergedPullRequest("pull_request", {})).toThrow(/no pull_request/);
  });
});
