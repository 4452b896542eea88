import { buildProgram } from "@orchestrator/cli";
import { describe, expect, it } from "vitest";
import { commandLine, InputError, inputsFromEnv, parseBoolean, toArgv } from "./inputs.js";

const line = (inputs: Record<string, string>) =>
  commandLine(buildProgram(), new Map(Object.entries(inputs)));

describe("inputs from the runner's environment", () => {
  it("reads INPUT_ variables with hyphens kept and spaces as underscores; empty means not given", () => {
    const inputs = inputsFromEnv({
      "INPUT_MAX-PARALLEL": " 3 ",
      INPUT_COMMAND: "assign",
      "INPUT_DRY-RUN": "",
      INPUT_MY_INPUT: "x",
      PATH: "/bin",
    });
    expect([...inputs]).toEqual([
      ["max-parallel", "3"],
      ["command", "assign"],
      ["my input", "x"],
    ]);
  });

  it("parses booleans like getBooleanInput", () => {
    expect(parseBoolean("x", "True")).toBe(true);
    expect(parseBoolean("x", "FALSE")).toBe(false);
    expect(parseBoolean("x", undefined, true)).toBe(true);
    expect(() => parseBoolean("x", "yes")).toThrow(InputError);
  });
});

describe("inputs → argv, driven by the CLI's own options", () => {
  it("maps every option input by its long name, booleans as flags", () => {
    const l = line({
      command: "assign",
      "max-parallel": "4",
      "task-ids": "a,b",
      "priority-id": "P-1",
      "agent-type": "code_developer",
      "dry-run": "true",
      "github-token": "secret",
    });
    expect(l.path).toEqual(["assign"]);
    expect(toArgv(l, ["--json"])).toEqual([
      "assign",
      "--agent-type=code_developer",
      "--dry-run",
      "--max-parallel=4",
      "--priority-id=P-1",
      "--task-ids=a,b",
      "--json",
    ]);
  });

  it("drops a false boolean", () => {
    expect(line({ command: "assign", "dry-run": "false" }).options).toEqual([]);
  });

  it("takes the sub-command from `action` or from a multi-word `command`, arguments after --", () => {
    const a = line({ command: "tasks", action: "complete", args: "db-schema\n", reason: "merged" });
    const b = line({ command: "tasks complete", args: "db-schema", reason: "merged" });
    expect(toArgv(a)).toEqual(["tasks", "complete", "--reason=merged", "--", "db-schema"]);
    expect(toArgv(b)).toEqual(toArgv(a));
  });

  it("keeps an argument that looks like an option an argument", () => {
    expect(toArgv(line({ command: "tasks", action: "show", args: "--upload-pack=x" }))).toEqual([
      "tasks",
      "show",
      "--",
      "--upload-pack=x",
    ]);
  });

  it("maps global options (config, repo)", () => {
    expect(line({ command: "init", config: "o.yaml" }).options).toEqual(["--config=o.yaml"]);
  });

  it.each([
    [{ command: "asign" }, /unknown command "asign".*assign/],
    [{ command: "tasks" }, /needs an action.*complete/],
    [{ command: "tasks", action: "finish" }, /unknown action "finish" for `tasks`/],
    [{ command: "assign", "max-paralel": "2" }, /max-paralel is not an option of `assign`/],
    [{ command: "tasks", action: "list", title: "x" }, /title is not an option of `tasks list`/],
    [{ command: "assign", db: "/tmp/x.db" }, /set by the action itself/],
    [{ command: "assign", json: "true" }, /set by the action itself/],
    [{ command: "assign", "dry-run": "maybe" }, /must be true or false/],
    [{ command: "tasks", action: "complete" }, /takes <id>; input args .* gave 0/],
    [{ command: "tasks", action: "complete", args: "a\nb" }, /gave 2/],
    [{ command: "tasks", action: "fail", args: "a", reason: "x\ny" }, /must be one line/],
    [{ command: "" }, /command is required/],
  ])("refuses %j", (inputs, message) => {
    expect(() => line(inputs)).toThrow(message);
  });
});

describe("action.yml", () => {
  it("declares every CLI option as an input, and every input is the action's own or a CLI option", async () => {
    const { readFileSync } = await import("node:fs");
    const text = readFileSync(new URL("../../../action.yml", import.meta.url), "utf8");
    const block = text.slice(text.indexOf("\ninputs:\n"), text.indexOf("\noutputs:\n"));
    const declared = [...block.matchAll(/^ {2}([a-z][a-z-]*):$/gm)].map((m) => m[1]!);
    const program = buildProgram();
    const options = new Set<string>();
    const walk = (cmd: typeof program) => {
      for (const o of cmd.options) if (o.long) options.add(o.long.slice(2));
      for (const sub of cmd.commands) walk(sub);
    };
    walk(program);
    for (const reserved of ["db", "json", "version", "help"]) options.delete(reserved);
    const { ACTION_INPUTS } = await import("./inputs.js");
    expect(
      declared.filter((i) => !(ACTION_INPUTS as readonly string[]).includes(i)).sort(),
    ).toEqual([...options].sort());
    expect(declared).toEqual(expect.arrayContaining([...ACTION_INPUTS]));
  });
});
