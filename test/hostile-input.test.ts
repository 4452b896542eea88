/**
 * Hostile input, property-based (fast-check): ids and branch names that look like options, path
 * traversal, shell metacharacters, look-alikes, invisible and control characters, terminal
 * escape sequences, lone surrogates, huge and malformed plans, foreign and newer databases.
 *
 * The guarantee: bad input is refused with a typed error that names the bad value and changes
 * nothing (database rows and git refs, worktrees and files compared before and after); whatever
 * is accepted is stored exactly and printed safely (no raw C0/C1 control character, escape
 * sequence or bidi control on the terminal, in --json, in the action's log, annotations and
 * job summary).
 *
 * The seed is fixed and printed; HOSTILE_SEED=<n> replays another, HOSTILE_RUNS=<n> multiplies
 * the number of runs of every property (default 1: about 30 s).
 */
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  failTask,
  idProblem,
  importPlan,
  listTasks,
  MAX_REASON_LENGTH,
  mdText,
  OrchestratorError,
  PLAN_MAX_BYTES,
  PLAN_MAX_TASKS,
  parsePlan,
  parseYamlStrict,
  readPlanFile,
  renderTaskDetail,
  renderTaskList,
  safeJson,
  safeLines,
  safeText,
  shorten,
  showTask,
} from "@orchestrator/core";
import Database from "better-sqlite3";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Annotations } from "../packages/action/src/annotations.js";
import { logText } from "../packages/action/src/log.js";
import { annotateResult } from "../packages/action/src/main.js";
import { renderSummary } from "../packages/action/src/summary.js";
import { internalErrorText } from "../packages/cli/src/program.js";
import { branchNameProblem } from "../packages/git/src/validate.js";
import { runStep } from "./helpers/action.js";
import { type CliResult, cli } from "./helpers/cli.js";
import { git, tempRepo } from "./helpers/git.js";
import { GitHubServer } from "./helpers/github-server.js";
import { snapshot, testOrchestrator } from "./helpers/orchestrator.js";
import { tempDir } from "./helpers/tmp.js";

const SEED = Number(process.env.HOSTILE_SEED ?? 20_261_128);
const SCALE = Math.max(1, Number(process.env.HOSTILE_RUNS ?? 1));
console.log(`hostile-input: seed ${SEED} (HOSTILE_SEED to replay), runs x${SCALE} (HOSTILE_RUNS)`);
const runs = (n: number) => ({ seed: SEED, numRuns: n * SCALE, endOnFailure: true });

// ---------------------------------------------------------------------------------------------
// What must never be printed raw

/**
 * Raw characters no output may hold: C0 controls but line feed, DEL, C1 controls (U+009B is a
 * one-character CSI), bidi controls and marks, line/paragraph separators, lone surrogates.
 */
const RAW_UNSAFE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]|\p{Cs}/u;

function expectSafe(text: string, where: string): void {
  const m = RAW_UNSAFE.exec(text);
  if (m) {
    throw new Error(
      `${where}: raw U+${m[0].codePointAt(0)!.toString(16).padStart(4, "0")} at ${m.index} in ${JSON.stringify(text.slice(Math.max(0, m.index - 40), m.index + 40))}`,
    );
  }
}

function expectSafeCli(r: CliResult, where: string): void {
  expectSafe(r.stdout, `${where} stdout`);
  expectSafe(r.stderr, `${where} stderr`);
}

// ---------------------------------------------------------------------------------------------
// Generators

/** Pieces of hostile text: escapes, controls, bidi, invisibles, look-alikes, shell and path syntax. */
const NASTY = [
  "\u001b[31m",
  "\u001b[2J\u001b[H",
  "\u001b]0;pwned\u0007",
  "\u001b]8;;https://evil.example\u001b\\link\u001b]8;;\u001b\\",
  "\u001bP+q\u001b\\",
  "\u009b6n",
  "\u0085",
  "\u009d0;t\u009c",
  "\u007f",
  "\r",
  "\r\n",
  "\n",
  "\t",
  "\u0007",
  "\u0008",
  "\u202e",
  "\u202d",
  "\u2066",
  "\u2069",
  "\u200f",
  "\u061c",
  "\u2028",
  "\u2029",
  "\u200b",
  "\u200d",
  "\ufeff",
  "\u00ad",
  "\u2060",
  "\u3164",
  "\u{e0041}",
  "\u0430",
  "\u03bf",
  "\uff4d",
  "\ufb01",
  "\u{1d41a}",
  "e\u0301",
  "\u0301",
  "\u{1f469}\u{1f3fd}\u200d\u{1f4bb}",
  "\u{1f1eb}\u{1f1f7}",
  "../",
  "../../etc/passwd",
  "/etc/passwd",
  "..",
  "/",
  "\\",
  "~",
  "^",
  ":",
  "?",
  "*",
  "[",
  "@{",
  ".lock",
  ".",
  "-",
  "--upload-pack=touch /tmp/pwned",
  "--exec=id",
  "-c core.pager=id",
  ";",
  "|",
  "&&",
  "$(id)",
  "`id`",
  "'",
  '"',
  "<",
  ">",
  "%s%n",
  "$" + "{HOME}",
  "@octocat",
  "https://evil.example/x",
  "www.evil.example",
  "| cell |",
  "<img src=x onerror=alert(1)>",
  "[x](javascript:alert(1))",
  "**bold**",
  "$$x^2$$",
  "::error::pwned",
  "##[group]x",
  "::add-mask::x",
];

/** Any code point, lone surrogates included. */
const anyCodePoint = fc.integer({ min: 0, max: 0x10ffff }).map((c) => String.fromCodePoint(c));

/** Hostile text: hostile pieces, any code points and plain text, joined. */
const hostileText = fc
  .array(fc.oneof(fc.constantFrom(...NASTY), anyCodePoint, fc.string({ maxLength: 6 })), {
    minLength: 1,
    maxLength: 10,
  })
  .map((parts) => parts.join(""));

/** Hostile text that can travel in argv: no NUL, no lone surrogate (argv is bytes). */
const argvText = hostileText
  .map((t) =>
    t
      .split("\u0000")
      .join("")
      .replace(/\p{Cs}/gu, "x"),
  )
  .filter((t) => t.length > 0);

/** A title the plan schema accepts (1-2000 characters once trimmed), hostile, argv-safe. */
const hostileTitle = argvText.filter((t) => t.trim().length > 0 && t.length <= 2000);

/** An id that is not valid: a valid stem with hostile text put in front, inside or after it. */
const badId = fc
  .tuple(
    fc.stringMatching(/^[a-z][a-z0-9]{0,6}$/),
    fc.oneof(fc.constantFrom(...NASTY), anyCodePoint, fc.constantFrom("A..b", "x.lock", "y.")),
    fc.constantFrom("before", "inside", "after"),
  )
  .map(([stem, bad, where]) =>
    where === "before"
      ? `${bad}${stem}`
      : where === "after"
        ? `${stem}${bad}`
        : `${stem.slice(0, 1)}${bad}${stem.slice(1)}`,
  )
  .filter((id) => idProblem(id) !== undefined);
const argvBadId = badId.filter((id) => !id.includes("\u0000") && id.isWellFormed());

// ---------------------------------------------------------------------------------------------
// State before and after

/** Every row of every table of the database file (read-only), or a note that it is absent. */
function dbRows(file: string): string {
  if (!existsSync(file)) return "(no database)";
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .pluck()
      .all() as string[];
    return JSON.stringify(
      tables.map((t) => [t, db.prepare(`SELECT * FROM "${t}"`).all()]),
      (_, v) => (typeof v === "bigint" ? String(v) : v),
    );
  } finally {
    db.close();
  }
}

/** Refs, worktrees, status and the worktree root's entries of a repository. */
function gitState(repo: string): string {
  const root = join(repo, "..", "worktrees");
  return [
    git(repo, "for-each-ref", "--format=%(refname) %(objectname)"),
    git(repo, "worktree", "list", "--porcelain"),
    git(repo, "status", "--porcelain", "--ignored"),
    existsSync(root) ? readdirSync(root).join("\n") : "(no worktree root)",
  ].join("\n--\n");
}

const sha = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

/** A refusal: the typed error, its exit status, the bad value named, safe output. */
function expectRefused(
  r: CliResult,
  code: string,
  exit: number,
  named: readonly string[],
  where: string,
): void {
  expectSafeCli(r, where);
  if (r.status !== exit || r.json?.ok !== false || r.json.error.code !== code) {
    throw new Error(
      `${where}: expected ${code} (exit ${exit}), got exit ${r.status}: ${r.stdout}${r.stderr}`,
    );
  }
  const message = r.json.error.message as string;
  for (const value of named) {
    if (!message.includes(JSON.stringify(value)) && !message.includes(value)) {
      throw new Error(`${where}: the error does not name ${JSON.stringify(value)}: ${message}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------

describe("hostile input: the safe renderers (in-process)", () => {
  it("safeText, safeLines and safeJson never let a raw control, escape or bidi character through; safeJson parses back to the same value", () => {
    fc.assert(
      fc.property(hostileText, (text) => {
        expectSafe(safeText(text), "safeText");
        expect(safeText(text)).not.toContain("\n");
        expectSafe(safeLines(text), "safeLines");
        const json = safeJson({ text, [text]: [text] });
        expectSafe(json, "safeJson");
        expect(JSON.parse(json)).toEqual(JSON.parse(JSON.stringify({ text, [text]: [text] })));
      }),
      runs(400),
    );
  });

  it("mdText: one line, no raw control, no HTML or table syntax, no mention, no autolink", () => {
    fc.assert(
      fc.property(hostileText, (text) => {
        const md = mdText(text);
        expectSafe(md, "mdText");
        expect(md).not.toMatch(/[\n<>|]/);
        expect(md).not.toMatch(/@(?!\u200b)/);
        expect(md).not.toMatch(/:\/\/|www\\?\./i);
        // Every Markdown punctuation character is escaped (or an entity).
        expect(md.replace(/\\[\\`*_{}[\]()#+\-.!~:$^]|&(amp|lt|gt|quot|#124);/g, "")).not.toMatch(
          /[`*_{}[\]()#+!~$^]/,
        );
      }),
      runs(400),
    );
  });

  it("shorten cuts only between graphemes, within the limit", () => {
    const segmenter = new Intl.Segmenter(undefined, { granularity: "grapheme" });
    const graphemes = (t: string) => [...segmenter.segment(t)].map((s) => s.segment);
    fc.assert(
      fc.property(hostileText, fc.integer({ min: 1, max: 40 }), (text, max) => {
        const out = shorten(text, max);
        expect(out.length).toBeLessThanOrEqual(Math.max(max, 1));
        if (out === text) return;
        expect(out.endsWith("…")).toBe(true);
        const kept = graphemes(out.slice(0, -1));
        expect(graphemes(text).slice(0, kept.length)).toEqual(kept);
      }),
      runs(400),
    );
  });

  it("task list and detail print hostile titles, reasons and files safely, and keep them exactly", () => {
    fc.assert(
      fc.property(
        fc.array(hostileText, { minLength: 1, maxLength: 5 }),
        hostileText,
        (titles, reason) => {
          const o = testOrchestrator();
          const wellFormed = (t: string) => t.replace(/\p{Cs}/gu, "x");
          const plan = parsePlan(
            {
              tasks: titles.map((t, i) => ({
                id: `t${i}`,
                title: `${wellFormed(t)}.`,
                files: [`${wellFormed(t)}x`],
                group: `${wellFormed(t)}x`,
              })),
            },
            "test",
          );
          importPlan(o, plan);
          failTask(o, "t0", wellFormed(reason).slice(0, MAX_REASON_LENGTH));
          const list = listTasks(o);
          expect(list.tasks.map((t) => t.title)).toEqual(
            titles.map((t) => `${wellFormed(t)}.`.trim()),
          );
          expectSafe(renderTaskList(list), "tasks list");
          expectSafe(safeJson(list), "tasks list --json");
          expectSafe(renderTaskDetail(showTask(o, "t0")), "tasks show");
          o.close();
        },
      ),
      runs(40),
    );
  });

  it("the action's summary, annotations and log lines are safe whatever the result holds", () => {
    const writes: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    fc.assert(
      fc.property(hostileText, hostileText, (a, b) => {
        const summary = renderSummary({
          command: "tasks list",
          ok: false,
          error: { code: "InvalidInput", message: a },
          result: { tasks: [{ id: a, title: b, [b]: a }] },
          database: [],
          tasks: [
            { id: "x", title: a, status: "failed", group: b, depends_on: [], blocked_by: [] },
          ],
        });
        expectSafe(summary.replace(/\n/g, " "), "summary");
        expect(summary).not.toMatch(/@(?!\u200b)/);
        const ok = renderSummary({
          command: a,
          ok: true,
          result: { [a]: b, list: [a] },
          database: [],
        });
        expectSafe(ok, "summary");

        const annotations = new Annotations();
        annotations.error(a, b);
        annotateResult(
          {
            agents: [{ agent_id: a, health: "stalled", reasons: [b] }],
            status: "conflict",
            task_id: b,
            conflicts: [a],
          },
          annotations,
        );
        writes.length = 0;
        process.stdout.write = ((chunk: string) => {
          writes.push(String(chunk));
          return true;
        }) as typeof process.stdout.write;
        try {
          annotations.emit();
        } finally {
          process.stdout.write = write;
        }
        for (const line of writes.join("").split("\n").filter(Boolean)) {
          expectSafe(line, "annotation");
          expect(line).toMatch(/^::(error|warning) (title=[^\n]*)?::/);
        }
        // A bug's stack trace (the binary's last resort) is printed through the same renderer.
        const internal = internalErrorText(new Error(a));
        expectSafe(internal, "internal error");
        expect(internal).toContain("internal error: Error: ");
        const logged = logText(`${a}\n${b}`);
        expectSafe(logged, "log");
        for (const line of logged.split("\n")) expect(line.trimStart()).not.toMatch(/^(::|##\[)/);
      }),
      runs(200),
    );
  });
});

describe("hostile input: refusals in-process (typed, naming the value, nothing changed)", () => {
  it("a plan with a bad id, dependency or agent type is InvalidInput naming it, the database unchanged", () => {
    const o = testOrchestrator();
    importPlan(o, parsePlan({ tasks: [{ id: "base", title: "Base" }] }, "test"));
    const before = snapshot(o);
    fc.assert(
      fc.property(badId, fc.constantFrom("id", "depends_on", "agent_type"), (bad, field) => {
        const task: Record<string, unknown> = { id: "ok", title: "ok" };
        if (field === "depends_on") task.depends_on = [bad];
        else task[field] = bad;
        let error: unknown;
        try {
          importPlan(o, parsePlan({ tasks: [task] }, "test"));
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(OrchestratorError);
        const e = error as OrchestratorError;
        expect(e.code).toBe("InvalidInput");
        expect(e.message).toContain(JSON.stringify(bad));
        if (typeof bad === "string" && /[^A-Za-z0-9._-]/.test(bad) && bad.isWellFormed()) {
          // The first character not allowed is named by its code point.
          expect(e.message).toMatch(/U\+[0-9A-F]{4,6}/);
        }
        expect(snapshot(o)).toEqual(before);
      }),
      runs(300),
    );
  });

  it("ids differing only in letter case are refused naming both; lone surrogates anywhere are refused naming the path", () => {
    const o = testOrchestrator();
    importPlan(o, parsePlan({ tasks: [{ id: "auth-api", title: "Auth" }] }, "test"));
    const before = snapshot(o);
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/),
        fc.integer({ min: 0xd800, max: 0xdfff }),
        (id, surrogate) => {
          const twin = id.toUpperCase();
          fc.pre(twin !== id);
          expect(() =>
            importPlan(
              o,
              parsePlan(
                {
                  tasks: [
                    { id, title: "a" },
                    { id: twin, title: "b" },
                  ],
                },
                "t",
              ),
            ),
          ).toThrow(new RegExp(`"${twin}" and "${id}" differ only in letter case`));
          expect(() =>
            importPlan(o, parsePlan({ tasks: [{ id: "AUTH-API", title: "x" }] }, "t")),
          ).toThrow(/"AUTH-API" and "auth-api"/);
          const lone = String.fromCharCode(surrogate);
          expect(() => parsePlan({ tasks: [{ id, title: `a${lone}b` }] }, "t")).toThrow(
            new RegExp(
              `tasks\\.0\\.title is not well-formed Unicode: a lone surrogate U\\+${surrogate.toString(16).toUpperCase()}`,
            ),
          );
          expect(snapshot(o)).toEqual(before);
        },
      ),
      runs(100),
    );
  });

  it("a branch name with an invisible, bidi, control or look-alike character is refused naming its code point", () => {
    const invisible = fc.constantFrom(
      "\u200b",
      "\u200d",
      "\u2060",
      "\ufeff",
      "\u00ad",
      "\u202e",
      "\u2066",
      "\u200f",
      "\u061c",
      "\u3164",
      "\u{e0041}",
      "\ufe0f",
      "\u0085",
      "\u001b",
      "\u00a0",
      "\u2028",
    );
    const lookAlike = fc.constantFrom(
      "\u0430",
      "\u03bf",
      "\u0501",
      "\uff4d",
      "\ufb01",
      "\u{1d41a}",
    );
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z]{2,8}$/),
        fc.oneof(invisible, lookAlike),
        fc.nat(),
        (name, bad, at) => {
          const i = 1 + (at % (name.length - 1));
          const branch = `${name.slice(0, i)}${bad}${name.slice(i)}`;
          const problem = branchNameProblem(branch);
          expect(problem).toBeDefined();
          expect(problem).toContain(
            `U+${bad.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`,
          );
          expect(idProblem(branch)).toContain("U+");
          expect(branchNameProblem(name)).toBeUndefined();
        },
      ),
      runs(300),
    );
    // Option look-alikes and path traversal, as before.
    for (const bad of ["--upload-pack=x", "-x", "a/../b", "../x", "a..b", "x.lock", "@", "a@{1}"])
      expect(branchNameProblem(bad), bad).toBeDefined();
    // Accented letters of one script stay allowed.
    expect(branchNameProblem("fonctionnalité/été")).toBeUndefined();
    expect(branchNameProblem("функция")).toBeUndefined();
  });

  it("YAML: any text either parses or is InvalidInput naming line and column; never a warning on stderr", () => {
    const dir = tempDir();
    const warnings: unknown[] = [];
    const onWarning = (w: unknown) => warnings.push(w);
    process.on("warning", onWarning);
    const valid = "tasks:\n  - id: a\n    title: A\n    depends_on: [b]\n  - id: b\n    title: B\n";
    const validJson = JSON.stringify({ tasks: [{ id: "a", title: "A" }] });
    const mutation = fc.oneof(
      fc.constantFrom(
        "!foo bar",
        "!!binary x",
        "? [a, b]\n  : c",
        "? {a: 1}\n  : c",
        "&a [*a]",
        "*nope",
        "a: 1\na: 2",
        "---\n---",
        "\t",
        "{",
        "]",
        "'",
        '"\\ud800"',
        "%YAML 9.9",
        "!<tag:x> y",
        "<<: *x",
        "\u0000",
        "\ufeff",
      ),
      fc.string({ maxLength: 8 }),
    );
    try {
      fc.assert(
        fc.property(fc.nat(valid.length), mutation, fc.boolean(), (at, inserted, json) => {
          const text = `${valid.slice(0, at)}${inserted}${valid.slice(at)}`;
          const file = join(dir, json ? "p.json" : "p.yaml");
          const k = at % validJson.length;
          writeFileSync(
            file,
            json ? `${validJson.slice(0, k)}${inserted}${validJson.slice(k)}` : text,
          );
          try {
            const plan = readPlanFile(file);
            expect(plan.tasks).toBeInstanceOf(Array);
          } catch (error) {
            expect(error).toBeInstanceOf(OrchestratorError);
            expect((error as OrchestratorError).code).toBe("InvalidInput");
            expect((error as OrchestratorError).message).toContain(file);
          }
          try {
            parseYamlStrict(text, "t", "t.yaml");
          } catch (error) {
            expect((error as OrchestratorError).code).toBe("InvalidInput");
            const details = (error as OrchestratorError).details;
            if (details.yaml_code !== "RESOLVE_FAILED" && details.yaml_code !== "PARSE_FAILED")
              expect(details.line).toBeTypeOf("number");
          }
        }),
        runs(400),
      );
      expect(() => parseYamlStrict("tasks:\n  - title: !foo bar\n", "plan p", "p")).toThrow(
        /Unresolved tag: !foo \(line 2, column 12\)/,
      );
      expect(() => parseYamlStrict("x:\n  ? [a]\n  : 1\n", "plan p", "p")).toThrow(
        /a mapping key is itself a list or mapping.*\(line 2, column 5\)/,
      );
      const bomb = `a: &a ["x","x"]\n${Array.from({ length: 20 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}]`).join("\n")}\n`;
      expect(() => parseYamlStrict(bomb, "plan p", "p")).toThrow(/InvalidInput|alias/i);
    } finally {
      process.off("warning", onWarning);
    }
    expect(warnings).toEqual([]);
  });

  it("a plan over 64 MiB or 100,000 tasks is refused naming the size or count and the limit", () => {
    const dir = tempDir();
    const huge = join(dir, "huge.yaml");
    writeFileSync(huge, "");
    truncateSync(huge, PLAN_MAX_BYTES + 1); // sparse: costs nothing on disk
    expect(() => readPlanFile(huge)).toThrow(
      new RegExp(`is ${PLAN_MAX_BYTES + 1} bytes; the limit is ${PLAN_MAX_BYTES} bytes`),
    );
    const many = { tasks: Array.from({ length: PLAN_MAX_TASKS + 1 }, (_, i) => ({ id: `t${i}` })) };
    expect(() => parsePlan(many, "many.json")).toThrow(
      new RegExp(`has ${PLAN_MAX_TASKS + 1} tasks; the limit is ${PLAN_MAX_TASKS}`),
    );
    const bad = join(dir, "latin1.yaml");
    writeFileSync(bad, Buffer.from([0x74, 0x61, 0x73, 0x6b, 0x73, 0x3a, 0xe9, 0x0a]));
    expect(() => readPlanFile(bad)).toThrow(/is not valid UTF-8/);
  });
});

describe("hostile input: the built CLI as a subprocess", () => {
  let repo: string;
  let db: string;
  let home: string;
  beforeAll(() => {
    // Shared by the tests of this block (tempDir's are removed after each test).
    home = mkdtempSync(join(tmpdir(), "orch-hostile-"));
    repo = tempRepo(join(home, "repo"));
    db = join(repo, "..", "o.db");
    const env = { cwd: repo };
    expect(cli(["--db", db, "init"], env).status).toBe(0);
    expect(cli(["--db", db, "tasks", "add", "base", "--title", "Base"], env).status).toBe(0);
  });
  afterAll(() => rmSync(home, { recursive: true, force: true }));
  const run = (args: string[], input?: string) =>
    cli(["--db", db, "--json", ...args], { cwd: repo, ...(input ? { input } : {}) });
  const runText = (args: string[]) => cli(["--db", db, ...args], { cwd: repo });

  /** Runs `fn`, then checks that the database rows and the git state did not change. */
  function unchanged(fn: () => void): void {
    const rows = dbRows(db);
    const state = gitState(repo);
    fn();
    expect(dbRows(db)).toBe(rows);
    expect(gitState(repo)).toBe(state);
  }

  it("ids that look like options, traverse paths or hold hostile characters are refused by tasks add, worktrees create and agents, naming them, changing nothing", () => {
    // Without `--`, an option look-alike is an unknown option (named by the usage error).
    for (const id of ["--upload-pack=touch /tmp/pwned", "-x"]) {
      unchanged(() =>
        expectRefused(run(["tasks", "add", id, "--title", "t"]), "InvalidInput", 2, [id], id),
      );
    }
    fc.assert(
      fc.property(
        argvBadId,
        fc.constantFrom("add", "depends", "agent-type", "worktree", "base", "heartbeat", "kill"),
        (bad, surface) => {
          const argv: Record<string, string[]> = {
            add: ["tasks", "add", "--title", "t", "--", bad],
            depends: ["tasks", "add", "ok", "--title", "t", `--depends-on=${bad}`],
            "agent-type": ["agents", "spawn", `--agent-type=${bad}`],
            worktree: ["worktrees", "create", `--task-id=${bad}`],
            base: ["worktrees", "create", "--task-id=base", `--base=${bad}`],
            heartbeat: ["agents", "heartbeat", `--agent-id=${bad}`],
            kill: ["agents", "kill", `--agent-id=${bad}`],
          };
          // A comma splits --depends-on: the parts that are bad are named.
          const named =
            surface === "depends"
              ? bad
                  .split(",")
                  .map((p) => p.trim())
                  .filter((p) => p && idProblem(p) !== undefined)
              : [bad];
          if (surface === "depends" && named.length === 0) return; // every part a valid id
          unchanged(() => {
            const r = run(argv[surface]!);
            if (surface === "base" && branchNameProblem(bad) === undefined) {
              // A valid branch name that does not exist: still refused, named.
              expectRefused(r, "InvalidInput", 2, [bad], `${surface} ${JSON.stringify(bad)}`);
              return;
            }
            const code = surface === "heartbeat" || surface === "kill" ? undefined : "InvalidInput";
            if (code) expectRefused(r, code, 2, named, `${surface} ${JSON.stringify(bad)}`);
            else {
              expectSafeCli(r, surface);
              expect(r.json.ok).toBe(false);
              expect(["InvalidInput", "AgentNotFound"]).toContain(r.json.error.code);
              expect(r.json.error.message).toContain(JSON.stringify(bad));
            }
          });
        },
      ),
      runs(12),
    );
    // A valid branch name that does not exist: refused before the worktree root or a lock is made.
    unchanged(() =>
      expectRefused(
        run(["worktrees", "create", "--task-id=base", "--base=no-such-branch"]),
        "InvalidInput",
        2,
        ['"no-such-branch"'],
        "missing base",
      ),
    );
    // The text error on the terminal is as safe as the JSON one.
    const r = runText(["tasks", "show", "x\u001b]0;pwned\u0007\u009b2J\u202e"]);
    expect(r.status).toBe(2);
    expectSafeCli(r, "tasks show (text)");
    expect(r.stderr).toContain("\\u001b]0;pwned\\u0007\\u{9b}2J\\u{202e}");
    const u = runText(["tasks", "list", "--\u001b[2Jx"]);
    expect(u.status).toBe(2);
    expectSafeCli(u, "unknown option (text)");
    expect(u.stderr).toMatch(/unknown option '--\\u\{1b\}\[2Jx'/);
  });

  it("hostile titles are accepted, stored exactly and printed safely (text and --json); ids differing in case are refused", () => {
    let n = 0;
    fc.assert(
      fc.property(hostileTitle, (title) => {
        const id = `title-${n++}`;
        const added = run(["tasks", "add", id, "--title", title]);
        expectSafeCli(added, "tasks add");
        expect(added.json?.ok, added.stdout).toBe(true);
        expect(added.json.result.title).toBe(title.trim());
        expectSafeCli(runText(["tasks", "show", id]), "tasks show");
        unchanged(() =>
          expectRefused(
            run(["tasks", "add", id.toUpperCase(), "--title", "t"]),
            "InvalidInput",
            2,
            [id.toUpperCase(), id],
            "case twin",
          ),
        );
      }),
      runs(6),
    );
    const list = runText(["tasks", "list"]);
    expectSafeCli(list, "tasks list");
    const json = run(["tasks", "list"]);
    expectSafeCli(json, "tasks list --json");
    const report = runText(["agents", "report", "--markdown"]);
    expectSafeCli(report, "agents report --markdown");
    expect(report.stdout).not.toMatch(/@(?!\u200b)/);
  });

  it("--reason: hostile text up to 4,096 characters is kept and shown safely; longer is refused, nothing changed", () => {
    let n = 0;
    fc.assert(
      fc.property(argvText, fc.integer({ min: 1, max: 3 }), (text, repeat) => {
        const id = `reason-${n++}`;
        expect(run(["tasks", "add", id, "--title", "t"]).status).toBe(0);
        const reason = text
          .repeat(repeat)
          .slice(0, MAX_REASON_LENGTH)
          .replace(/\p{Cs}/gu, "x");
        const failed = run(["tasks", "fail", id, "--reason", reason]);
        expectSafeCli(failed, "tasks fail");
        expect(failed.json.ok).toBe(true);
        const shown = run(["tasks", "show", id]);
        expect(shown.json.result.status_reason).toBe(reason);
        expectSafeCli(runText(["tasks", "show", id]), "tasks show");
        const long = `${reason}${"x".repeat(MAX_REASON_LENGTH + 1 - reason.length)}`;
        unchanged(() =>
          expectRefused(
            run(["tasks", "complete", id, "--reason", long]),
            "InvalidInput",
            2,
            [`${long.length} characters`, String(MAX_REASON_LENGTH)],
            "long reason",
          ),
        );
      }),
      runs(3),
    );
  });

  it("route send/poll: hostile content round-trips exactly and prints safely; a lone surrogate is refused", () => {
    fc.assert(
      fc.property(fc.array(argvText, { minLength: 1, maxLength: 3 }), (texts) => {
        const content = { texts, [texts[0]!]: texts.at(-1) };
        const sent = run([
          "route",
          "send",
          "--from",
          "architect",
          "--to",
          "code_developer",
          "--type",
          "spec_ready",
          "--content",
          JSON.stringify(content),
        ]);
        expectSafeCli(sent, "route send");
        expect(sent.json.ok, sent.stdout).toBe(true);
        const listed = runText(["route", "list"]);
        expectSafeCli(listed, "route list");
        const polled = run(["route", "poll", "--target", "code_developer", "--limit", "1"]);
        expectSafeCli(polled, "route poll");
        expect(polled.json.result.messages[0].content).toEqual(content);
      }),
      runs(4),
    );
    const lone = '{"text":"a\\ud800b"}';
    unchanged(() =>
      expectRefused(
        run(
          [
            "route",
            "send",
            "--from",
            "a",
            "--to",
            "code_developer",
            "--type",
            "x",
            "--content",
            "-",
          ],
          lone,
        ),
        "InvalidInput",
        2,
        ["U+D800", "text"],
        "lone surrogate",
      ),
    );
  });

  it("hostile plan files: malformed, unresolved tags, collection keys, lone surrogates, huge, too many tasks — refused naming the problem, nothing changed", () => {
    const dir = tempDir();
    const plans: [string, string | Buffer, string[]][] = [
      ["tag.yaml", "tasks:\n  - id: a\n    title: !foo bar\n", ["!foo", "line 3, column 12"]],
      ["key.yaml", "tasks:\n  - id: a\n    title: t\n  - ? [x]\n    : y\n", ["line 4"]],
      ["dup.yaml", "tasks:\n  - id: a\n    title: t\n    title: u\n", ["line 4"]],
      ["bad.json", '{"tasks": [', ["not valid JSON"]],
      ["lone.json", '{"tasks":[{"id":"a","title":"x\\udc00"}]}', ["tasks.0.title", "U+DC00"]],
      ["case.json", '{"tasks":[{"id":"Base","title":"x"}]}', ['"Base"', '"base"']],
      ["latin1.yaml", Buffer.from("tasks:\n  - id: a\n    title: caf\xe9\n", "latin1"), ["UTF-8"]],
      [
        "many.json",
        JSON.stringify({
          tasks: Array.from({ length: PLAN_MAX_TASKS + 1 }, (_, i) => ({
            id: `m${i}`,
            title: "m",
          })),
        }),
        [String(PLAN_MAX_TASKS + 1), String(PLAN_MAX_TASKS)],
      ],
    ];
    for (const [name, text, named] of plans) {
      const file = join(dir, name);
      writeFileSync(file, text);
      unchanged(() => {
        const r = run(["tasks", "import", file]);
        expectRefused(r, "InvalidInput", 2, name === "case.json" ? named : [file, ...named], name);
        if (name === "tag.yaml" || name === "lone.json")
          expectSafeCli(runText(["tasks", "import", file]), `${name} (text)`);
      });
    }
    const huge = join(dir, "huge.yaml");
    writeFileSync(huge, "");
    truncateSync(huge, PLAN_MAX_BYTES + 1);
    unchanged(() =>
      expectRefused(
        run(["tasks", "import", huge]),
        "InvalidInput",
        2,
        [String(PLAN_MAX_BYTES + 1), String(PLAN_MAX_BYTES)],
        "huge",
      ),
    );
  });

  it("a file that is not a database, a foreign SQLite database, a newer one or a directory: DatabaseError naming it, the file untouched", () => {
    const dir = tempDir();
    let n = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: 1, maxLength: 4096 }).map((b) => ({ kind: "bytes", b })),
          fc
            .constantFrom("notes", "users", "specs_tasks", "x\u001b[31m")
            .map((t) => ({ kind: "foreign", t })),
          fc.integer({ min: 2, max: 1_000_000 }).map((v) => ({ kind: "newer", v })),
        ),
        (kind) => {
          const file = join(dir, `db-${n++}.db`);
          if (kind.kind === "bytes") writeFileSync(file, (kind as { b: Uint8Array }).b);
          else {
            const raw = new Database(file);
            if (kind.kind === "foreign")
              raw.exec(`CREATE TABLE "${(kind as { t: string }).t}" (x)`);
            else raw.pragma(`user_version = ${(kind as { v: number }).v}`);
            raw.close();
          }
          const before = sha(file);
          const r = cli(["--db", file, "--json", "tasks", "add", "a", "--title", "t"]);
          const header = readFileSync(file).subarray(0, 16).toString("latin1");
          if (kind.kind === "bytes" && header === "SQLite format 3\0") return; // vanishingly rare
          expectRefused(r, "DatabaseError", 10, [file], kind.kind);
          expect(sha(file)).toBe(before);
          expect(existsSync(`${file}-wal`)).toBe(false);
          expect(existsSync(`${file}-shm`)).toBe(false);
        },
      ),
      runs(8),
    );
    const directory = join(dir, "a-directory");
    mkdirSync(directory);
    expectRefused(
      run(["--db", directory, "tasks", "list"]),
      "DatabaseError",
      10,
      [directory],
      "dir",
    );
    expect(statSync(directory).isDirectory()).toBe(true);
  });
});

describe("hostile input: the bundled action (log, annotations, outputs, job summary)", () => {
  let server: GitHubServer;
  beforeAll(async () => {
    server = await new GitHubServer().start();
  });
  afterAll(() => server.stop());

  it("hostile titles and reasons reach the log, annotations, outputs and summary only as visible escapes, with no mention and no workflow command", async () => {
    const ws = tempRepo();
    const title =
      "x\u001b]0;pwned\u0007 \u009b2J \u202eevil @octocat https://evil.example ::error::pwned";
    writeFileSync(
      join(ws, "plan.json"),
      JSON.stringify({
        tasks: [
          { id: "a", title },
          { id: "b", title: `${title} b`, depends_on: ["a"] },
        ],
      }),
    );
    let runId = 900;
    const step = (inputs: Record<string, string>) =>
      runStep(server, { inputs, runId: runId++, workspace: ws });
    const imported = await step({
      command: "tasks",
      action: "import",
      args: "plan.json",
      init: "true",
    });
    expect(imported.status, imported.stdout).toBe(0);
    const failed = await step({
      command: "tasks",
      action: "fail",
      args: "a",
      reason: `boom\u001b[31m \u0085 @octocat ::warning::x`,
    });
    expect(failed.status, failed.stdout).toBe(0);
    const assigned = await step({ command: "assign" });
    const listed = await step({ command: "tasks", action: "list" });
    for (const [name, r] of Object.entries({ imported, failed, assigned, listed })) {
      const stdout = r.stdout.replace(`::add-mask::${server.token}`, "");
      expectSafe(stdout, `${name} log`);
      expectSafe(r.stderr, `${name} stderr`);
      expectSafe(r.summary.replace(/\n/g, " "), `${name} summary`);
      expectSafe(JSON.stringify(r.outputs), `${name} outputs`);
      for (const v of Object.values(r.outputs)) expectSafe(v, `${name} output`);
      expect(r.summary).not.toMatch(/@(?!\u200b)/);
      expect(r.summary).not.toContain("https://evil");
      // Only the action's own workflow commands start a line.
      for (const line of stdout.split("\n")) {
        if (line.startsWith("::"))
          expect(line).toMatch(/^::(group|endgroup|error|warning|debug|add-mask)/);
        expect(line).not.toMatch(/^::error::pwned|^::warning::x/);
      }
    }
    // Stored exactly: the result output carries the title, JSON-escaped.
    expect(listed.result.tasks.map((t: { title: string }) => t.title)).toContain(title);
    // assign warns that failed task a holds b back, quoting its reason safely.
    expect(assigned.stdout).toMatch(/::warning title=task a is failed::/);
    expect(assigned.stdout).toContain("boom\\u{1b}[31m");
  });
});
