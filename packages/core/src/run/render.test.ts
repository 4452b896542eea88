import { describe, expect, it } from "vitest";
import { renderLiveView, renderRunEvent } from "./render.js";

const counts = {
  total: 12,
  completed: 6,
  running: 3,
  review: 1,
  ready: 0,
  blocked: 2,
  failed: 0,
  conflict: 0,
  cancelled: 0,
};

describe("run rendering", () => {
  it("the live view shows counts, a bar over the whole graph and one line per running agent", () => {
    const text = renderLiveView({
      elapsed_ms: 65_000,
      tasks: counts,
      agents: [
        {
          agent_id: "code_developer-1a2b",
          task_id: "auth-api",
          elapsed_ms: 4_200,
          health: "healthy",
        },
        {
          agent_id: "code_developer-3c4d",
          task_id: "docs-guide",
          elapsed_ms: 31_000,
          health: "stalled",
        },
      ],
    });
    const lines = text.split("\n");
    expect(lines[0]).toMatch(/^orchestrator run {2}1m5s {2}\[#{20}\.{20}\] 6\/12$/);
    expect(lines[1]).toBe(
      "  completed 6  running 3  review 1  ready 0  blocked 2  failed 0  conflict 0",
    );
    expect(lines[2]).toMatch(/^ {2}code_developer-1a2b +auth-api +4\.2s {2}healthy$/);
    expect(lines[3]).toMatch(/docs-guide +31s {2}stalled$/);
    expect(renderLiveView({ elapsed_ms: 0, tasks: counts, agents: [] })).toContain(
      "no agent running",
    );
  });

  it("event lines show escapes instead of terminal control sequences from task ids and messages", () => {
    const line = renderRunEvent({
      at: Date.UTC(2026, 10, 25, 9, 30, 5),
      kind: "conflict",
      task_id: "theme-light",
      message: "conflict merging theme-light: \u001b[2Jsettings/theme.txt",
    });
    expect(line).toBe(
      "09:30:05 conflict          theme-light          conflict merging theme-light: \\u{1b}[2Jsettings/theme.txt",
    );
  });
});
