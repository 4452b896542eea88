import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "./helpers/cli.js";

/**
 * The security rules of every workflow in .github/workflows and of every workflow snippet in the
 * README, checked on their parsed YAML so that an edit breaking one fails CI:
 *
 * - `permissions: {}` at the top; every job states its own, each scope one it needs.
 * - No `pull_request_target` or `workflow_run` trigger, and no checkout of a pull request's head.
 * - A job that runs the repository's or an agent's code (scripts, node, pnpm, …) has no write
 *   permission and sees no token or secret; a job with write permission runs none of that.
 * - Every checkout sets `persist-credentials: false` (a job that pushes passes the token to that
 *   one git command).
 * - No `${{ }}` inside `run:` text: values reach scripts through `env:`.
 * - Actions are GitHub's own at a major version, this action (`OWNER/orchestrator@v1`), a local
 *   path, or pinned to a full commit SHA.
 * - Every job that writes the orchestrator database shares the `orchestrator-db` concurrency
 *   group without cancelling; a matrix is guarded against being empty.
 */
// `yaml` is a dependency of @orchestrator/core (the plan and config parser); the tests borrow it.
const { parse } = createRequire(join(ROOT, "packages", "core", "package.json"))("yaml") as {
  parse: (text: string) => unknown;
};

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML of any shape
type Y = any;

interface Workflow {
  name: string;
  doc: Y;
}

const WORKFLOW_DIR = join(ROOT, ".github", "workflows");

function workflows(): Workflow[] {
  return readdirSync(WORKFLOW_DIR)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => ({ name: f, doc: parse(readFileSync(join(WORKFLOW_DIR, f), "utf8")) }));
}

/** The README's ```yaml blocks that are workflows (with `jobs`) or lists of workflow steps. */
function readmeSnippets(): { name: string; doc: Y }[] {
  const text = readFileSync(join(ROOT, "README.md"), "utf8");
  const blocks = [...text.matchAll(/```ya?ml\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks
    .map((b, i) => ({ name: `README.md yaml block ${i + 1}`, doc: parse(b) as Y }))
    .filter(
      ({ doc }) =>
        (doc && typeof doc === "object" && "jobs" in doc) ||
        (Array.isArray(doc) && doc.some((s: Y) => s && ("uses" in s || "run" in s))),
    );
}

/** A GitHub expression, `${{ inner }}`. */
const expr = (inner: string) => `\${{ ${inner} }}`;

const GITHUB_OWNED = /^(actions|github)\/[A-Za-z0-9._-]+(\/[^@]+)?@v\d+$/;
const THIS_ACTION = /^OWNER\/orchestrator@v1$/;
const PINNED = /^[A-Za-z0-9._-]+\/[A-Za-z0-9._-]+(\/[^@]+)?@[0-9a-f]{40}$/;
/** Scopes a job may ask for, and the most it may ask. */
const ALLOWED_SCOPES: Record<string, string[]> = {
  actions: ["read"],
  contents: ["read", "write"],
  "pull-requests": ["write"],
};
/** A `run:` that executes code from the checkout (the repository's, a pull request's, an agent's). */
const RUNS_CHECKED_OUT_CODE =
  /(^|[\s;&|(])(\.\/|bash\s+[^-\s]|sh\s+[^-\s]|node\b|npm\b|npx\b|pnpm\b|yarn\b|make\b|python3?\b)/m;
const TOKEN_OR_SECRET = /\$\{\{[^}]*\b(secrets\.|github\.token)/;

function steps(job: Y): Y[] {
  return Array.isArray(job?.steps) ? job.steps : [];
}

function writes(job: Y): string[] {
  const p = job?.permissions;
  if (p === "write-all") return ["write-all"];
  if (!p || typeof p !== "object") return [];
  return Object.entries(p)
    .filter(([, v]) => v === "write")
    .map(([k]) => k);
}

const runsCheckedOutCode = (job: Y) =>
  steps(job).some((s) => typeof s.run === "string" && RUNS_CHECKED_OUT_CODE.test(s.run));

/** Rules every step list obeys, in a workflow or a README snippet. */
function checkSteps(where: string, list: Y[]): string[] {
  const problems: string[] = [];
  for (const [i, s] of list.entries()) {
    const at = `${where} step ${s?.id ?? s?.name ?? i + 1}`;
    if (typeof s?.run === "string" && s.run.includes(expr("").slice(0, 3))) {
      problems.push(`${at}: \${{ }} inside run: (pass the value through env:)`);
    }
    if (typeof s?.uses === "string" && !s.uses.startsWith("./")) {
      if (!GITHUB_OWNED.test(s.uses) && !THIS_ACTION.test(s.uses) && !PINNED.test(s.uses)) {
        problems.push(`${at}: ${s.uses} is neither GitHub's own nor pinned to a commit SHA`);
      }
    }
    if (typeof s?.uses === "string" && s.uses.startsWith("actions/checkout@")) {
      if (s.with?.["persist-credentials"] !== false) {
        problems.push(`${at}: checkout without persist-credentials: false`);
      }
      const ref = String(s.with?.ref ?? "") + String(s.with?.repository ?? "");
      if (/pull_request\.head|head_ref/.test(ref)) {
        problems.push(`${at}: checks out the pull request's head (${ref})`);
      }
    }
  }
  return problems;
}

function checkWorkflow(w: Workflow): string[] {
  const problems: string[] = [];
  const on = w.doc.on ?? w.doc[true as unknown as string]; // YAML 1.1 reads `on` as true
  const triggers = typeof on === "string" ? [on] : Array.isArray(on) ? on : Object.keys(on ?? {});
  for (const t of ["pull_request_target", "workflow_run"]) {
    if (triggers.includes(t)) problems.push(`${w.name}: triggered by ${t}`);
  }
  const top = w.doc.permissions;
  if (!(top && typeof top === "object" && Object.keys(top).length === 0)) {
    problems.push(`${w.name}: top-level permissions must be {} (found ${JSON.stringify(top)})`);
  }
  for (const [id, job] of Object.entries<Y>(w.doc.jobs ?? {})) {
    const at = `${w.name} job ${id}`;
    const p = job.permissions;
    if (!p || typeof p !== "object") {
      problems.push(`${at}: no permissions of its own (found ${JSON.stringify(p)})`);
    } else {
      for (const [scope, level] of Object.entries(p)) {
        if (!ALLOWED_SCOPES[scope]?.includes(String(level)) && level !== "none") {
          problems.push(`${at}: permission ${scope}: ${String(level)} is not allowed`);
        }
      }
    }
    if (typeof job.uses === "string") continue; // a reusable workflow: checked as its own file
    if (job["timeout-minutes"] === undefined) problems.push(`${at}: no timeout-minutes`);
    problems.push(...checkSteps(at, steps(job)));
    const untrusted = runsCheckedOutCode(job);
    if (untrusted && writes(job).length > 0) {
      problems.push(
        `${at}: runs checked-out code with write permission (${writes(job).join(", ")})`,
      );
    }
    if (untrusted && TOKEN_OR_SECRET.test(JSON.stringify(job))) {
      problems.push(`${at}: runs checked-out code and passes it a token or secret`);
    }
    if (JSON.stringify(job.env ?? {}).match(TOKEN_OR_SECRET)) {
      problems.push(`${at}: a token or secret in the job's env reaches every step`);
    }
    const writesDatabase = steps(job).some(
      (s) =>
        typeof s.uses === "string" &&
        THIS_ACTION.test(s.uses) &&
        String(s.with?.journal ?? "false") !== "true",
    );
    if (writesDatabase) {
      const c = job.concurrency;
      if (c?.group !== "orchestrator-db" || c?.["cancel-in-progress"] !== false) {
        problems.push(`${at}: uses the database outside concurrency group orchestrator-db`);
      }
      if (!job.permissions?.actions) {
        problems.push(`${at}: restores the database without actions: read`);
      }
    }
    if (typeof job.strategy?.matrix === "string" && !/has-work/.test(String(job.if ?? ""))) {
      problems.push(`${at}: a computed matrix not guarded by has-work (an empty one fails)`);
    }
  }
  return problems;
}

describe("workflow security rules", () => {
  const all = workflows();

  it("finds the workflows and the README's workflow snippets", () => {
    expect(all.map((w) => w.name)).toEqual([
      "ci.yml",
      "orchestrate.yml",
      "pr-merged.yml",
      "release-action.yml",
    ]);
    expect(readmeSnippets().length).toBeGreaterThanOrEqual(1);
  });

  it.each(all.map((w) => [w.name, w] as const))("%s follows every rule", (_name, w) => {
    expect(checkWorkflow(w)).toEqual([]);
  });

  it("the README's workflow snippets follow the step rules", () => {
    const problems = readmeSnippets().flatMap(({ name, doc }) =>
      Array.isArray(doc)
        ? checkSteps(name, doc)
        : checkWorkflow({ name, doc: { permissions: {}, ...doc } }),
    );
    expect(problems).toEqual([]);
  });

  it("orchestrate.yml: agent code runs with contents: read only; a separate job publishes it", () => {
    const jobs = all.find((w) => w.name === "orchestrate.yml")!.doc.jobs;
    expect(jobs.agent.permissions).toEqual({ contents: "read" });
    expect(steps(jobs.agent).some((s) => s.run === "./scripts/agent.sh")).toBe(true);
    expect(JSON.stringify(jobs.agent)).not.toMatch(/GH_TOKEN|GITHUB_TOKEN|github\.token|secrets\./);
    // The agent's product leaves as an artifact; the publish job takes it and holds the write token.
    expect(steps(jobs.agent).at(-1).uses).toMatch(/^actions\/upload-artifact@/);
    expect(jobs.publish.needs).toContain("agent");
    expect(jobs.publish.permissions).toEqual({ contents: "write", "pull-requests": "write" });
    expect(runsCheckedOutCode(jobs.publish)).toBe(false);
    const push = steps(jobs.publish).find((s) => s.id === "push");
    expect(push.run).toMatch(/git bundle list-heads/);
    expect(push.run).toMatch(
      /git fetch --no-tags "\$bundle" "refs\/heads\/\$BRANCH:refs\/heads\/\$BRANCH"/,
    );
    // Failures are journaled by the trusted job, never by the one that ran the agent.
    expect(steps(jobs.agent).some((s) => THIS_ACTION.test(String(s.uses)))).toBe(false);
    expect(jobs.collect.needs).toContain("publish");
    // collect restores exactly the database the plan job left (an agent job could upload one).
    expect(jobs.plan.outputs["db-artifact-id"]).toBe(expr("steps.assign.outputs.db-artifact-id"));
    for (const s of steps(jobs.collect).filter((x) => THIS_ACTION.test(String(x.uses)))) {
      expect(s.with["db-artifact-id"]).toMatch(
        /^\$\{\{ (needs\.plan|steps\.collect)\.outputs\.db-artifact-id \}\}$/,
      );
    }
  });

  it("pr-merged.yml: pull_request only, branches of this repository, the base branch checked out", () => {
    const w = all.find((x) => x.name === "pr-merged.yml")!.doc;
    expect(Object.keys(w.on)).toEqual(["pull_request"]);
    expect(w.jobs.record.if).toMatch(/head\.repo\.full_name == github\.repository/);
    expect(w.jobs.record.if).toMatch(/pull_request\.merged == true/);
    const checkout = steps(w.jobs.record).find((s) =>
      String(s.uses).startsWith("actions/checkout"),
    );
    expect(checkout.with.ref).toBe(expr("github.event.pull_request.base.ref"));
    expect(w.jobs.record.permissions).toEqual({ actions: "read", contents: "read" });
  });

  it("the rules catch what they are about (each broken copy fails)", () => {
    const orchestrate = all.find((w) => w.name === "orchestrate.yml")!;
    const broken = (edit: (doc: Y) => void): string[] => {
      const doc = structuredClone(orchestrate.doc);
      edit(doc);
      return checkWorkflow({ name: "broken.yml", doc });
    };
    expect(broken((d) => (d.jobs.agent.permissions = { contents: "write" }))).toEqual([
      "broken.yml job agent: runs checked-out code with write permission (contents)",
    ]);
    expect(broken((d) => (d.jobs.agent.env.GH_TOKEN = expr("github.token")))).toEqual(
      expect.arrayContaining([expect.stringMatching(/passes it a token or secret/)]),
    );
    expect(broken((d) => delete d.jobs.agent.steps[0].with["persist-credentials"])).toEqual([
      "broken.yml job agent step 1: checkout without persist-credentials: false",
    ]);
    expect(broken((d) => (d.permissions = { contents: "write" }))[0]).toMatch(/top-level/);
    expect(broken((d) => (d.on = { pull_request_target: {} }))[0]).toMatch(/pull_request_target/);
    expect(
      broken((d) => (d.jobs.agent.steps[0].with.ref = expr("github.event.pull_request.head.sha"))),
    ).toEqual([expect.stringMatching(/checks out the pull request's head/)]);
    expect(broken((d) => (d.jobs.agent.steps[1].run = `echo "${expr("matrix.title")}"`))).toEqual([
      expect.stringMatching(/inside run:/),
    ]);
    expect(broken((d) => (d.jobs.publish.steps[1].uses = "someone/download@v4"))).toEqual([
      expect.stringMatching(/neither GitHub's own nor pinned/),
    ]);
    expect(broken((d) => steps(d.jobs.publish).push({ run: "pnpm test" }))).toEqual([
      expect.stringMatching(/job publish: runs checked-out code with write permission/),
      expect.stringMatching(/job publish: runs checked-out code and passes it a token/),
    ]);
    expect(broken((d) => delete d.jobs.collect.concurrency)).toEqual([
      expect.stringMatching(/outside concurrency group orchestrator-db/),
    ]);
    expect(broken((d) => (d.jobs.plan.permissions = { actions: "write" }))).toEqual(
      expect.arrayContaining([expect.stringMatching(/actions: write is not allowed/)]),
    );
  });
});
