import { mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as core from "@actions/core";
import { buildProgram, runCli } from "@orchestrator/cli";
import { listTasks, openOrchestrator, parseSize, safeJson, shorten } from "@orchestrator/core";
import { Annotations } from "./annotations.js";
import { type ArtifactStore, GitHubArtifactStore } from "./artifacts.js";
import {
  DB_FILE,
  fingerprint,
  type Restored,
  restoreDatabase,
  StateError,
  saveDatabase,
  type Writer,
} from "./database.js";
import { mergedPullRequest, readEvent } from "./event.js";
import {
  ACTION_INPUTS,
  type CommandLine,
  commandLine,
  InputError,
  inputsFromEnv,
  parseBoolean,
  toArgv,
} from "./inputs.js";
import {
  appendToJournal,
  type CollectResult,
  checkJournalArgv,
  collectJournals,
  JOURNAL_FILE,
  journalArtifactName,
} from "./journal.js";
import { logText } from "./log.js";
import { nativeBinding } from "./native.js";
import { Redactor, withoutRunnerSecrets } from "./redact.js";
import { type GraphTask, md, mdTable, renderSummary } from "./summary.js";

/** Commands of the action itself, beside the CLI's. */
const PR_MERGED = "pr-merged";
const COLLECT = "collect";
/** Commands whose summary draws the task graph. */
const GRAPH_COMMANDS = new Set(["assign", PR_MERGED, COLLECT, "agents report", "tasks list"]);

/** The step's secrets (the github-token), removed from every text the step writes. */
const redactor = new Redactor();
let streamsFiltered = false;

/** core.info, redacted and made safe (no escapes, no workflow commands): the step's log. */
function log(text: string): void {
  core.info(logText(redactor.text(text)));
}

/** core.warning the same way. */
function warn(text: string): void {
  core.warning(logText(redactor.text(text)));
}

/** core.setOutput, redacted: GITHUB_OUTPUT is a file the runner does not mask. */
function setOutput(name: string, value: string): void {
  core.setOutput(name, redactor.text(value));
}

interface Step {
  command: string;
  ok: boolean;
  result?: unknown;
  error?: { code: string; message: string; details?: unknown };
  sections: string[];
  tasks?: GraphTask[];
  /** Upload even when the database did not change (init refreshes the artifact's retention). */
  alwaysSave?: boolean;
  /** Whether the command's own outcome allows saving the database. */
  save: boolean;
  /** Runs once the database is saved (a collect step fails only after saving what it applied). */
  afterSave?: () => void;
}

interface Settings {
  inputs: Map<string, string>;
  base: string;
  expectedId: number | undefined;
  init: boolean;
  journal: boolean;
  retentionDays: number;
  maxBytes: number;
  summary: boolean;
  token: string;
  owner: string;
  repo: string;
  runId: number;
  workspace: string;
  temp: string;
  binding: string | undefined;
  writer: Omit<Writer, "command">;
}

function settings(env: NodeJS.ProcessEnv): Settings {
  const inputs = inputsFromEnv(env);
  const token = inputs.get("github-token") ?? "";
  if (token) {
    // Masked in the runner's log first, then redacted from everything else the step writes.
    core.setSecret(token);
    redactor.add(token);
  }
  const [owner, repo] = (env.GITHUB_REPOSITORY ?? "").split("/");
  if (!owner || !repo) throw new InputError("GITHUB_REPOSITORY is not set (owner/name)");
  const runId = Number(env.GITHUB_RUN_ID);
  if (!Number.isSafeInteger(runId) || runId <= 0) throw new InputError("GITHUB_RUN_ID is not set");
  const base = inputs.get("db-artifact") ?? "orchestrator-db";
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$/.test(base)) {
    throw new InputError(
      `db-artifact ${JSON.stringify(base)} must be letters, digits, '.', '_' or '-'`,
    );
  }
  const expected = inputs.get("db-artifact-id");
  const expectedId = expected === undefined ? undefined : Number(expected);
  if (expectedId !== undefined && (!Number.isSafeInteger(expectedId) || expectedId <= 0)) {
    throw new InputError(`db-artifact-id ${JSON.stringify(expected)} must be an artifact id`);
  }
  const retentionDays = Number(inputs.get("retention-days") ?? "90");
  if (!Number.isInteger(retentionDays) || retentionDays < 1 || retentionDays > 90) {
    throw new InputError("retention-days must be a whole number of days from 1 to 90");
  }
  const maxBytes = parseSize(inputs.get("max-db-size") ?? "256MiB");
  if (maxBytes === undefined || maxBytes < 1) {
    throw new InputError("max-db-size must be a size such as 256MiB");
  }
  return {
    inputs,
    base,
    expectedId,
    init: parseBoolean("init", inputs.get("init")),
    journal: parseBoolean("journal", inputs.get("journal")),
    summary: parseBoolean("summary", inputs.get("summary"), true),
    retentionDays,
    maxBytes,
    token,
    owner,
    repo,
    runId,
    workspace: env.GITHUB_WORKSPACE ?? process.cwd(),
    temp: env.RUNNER_TEMP ?? tmpdir(),
    binding: nativeBinding(),
    writer: {
      run_id: String(runId),
      run_attempt: env.GITHUB_RUN_ATTEMPT ?? "1",
      workflow: env.GITHUB_WORKFLOW ?? "",
      job: env.GITHUB_JOB ?? "",
    },
  };
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  /** Artifact storage; default GitHub's, through the job's token and the runner's services. */
  store?: (s: { token: string; owner: string; repo: string }) => ArtifactStore;
}

/**
 * One workflow step = one command (CFR-018): restore the database artifact, run the command,
 * write outputs, summary and annotations, upload the database if it changed, exit.
 */
export async function run(options: RunOptions = {}): Promise<void> {
  const env = options.env ?? process.env;
  if (!streamsFiltered) {
    // Libraries (octokit, @actions/artifact) log through these directly.
    redactor.filter(process.stdout);
    redactor.filter(process.stderr);
    streamsFiltered = true;
  }
  const annotations = new Annotations();
  const database: string[] = [];
  let step: Step | undefined;
  let s: Settings | undefined;
  try {
    s = settings(env);
    const st = s;
    if (!st.token) throw new InputError("input github-token is required (default: github.token)");
    const store = (options.store ?? ((o) => new GitHubArtifactStore(o.token, o.owner, o.repo)))({
      token: st.token,
      owner: st.owner,
      repo: st.repo,
    });
    step = st.journal
      ? await journalStep(st, store, database)
      : await databaseStep(st, env, store, database, annotations);
  } catch (error) {
    const e = describe(error);
    step = {
      command:
        step?.command ??
        [s?.inputs.get("command"), s?.inputs.get("action")].filter(Boolean).join(" "),
      ...step,
      sections: step?.sections ?? [],
      save: false,
      ok: false,
      error: e,
    };
  }

  // A server may echo the token in an error (and a command's result may quote it): nothing below
  // writes an unredacted text.
  step = redactor.value(step);
  const lines = database.map((line) => redactor.text(line));
  const label = `orchestrator ${step.command || "(no command)"}`;
  if (!step.ok && step.error) annotations.error(`${label}: ${step.error.code}`, step.error.message);
  if (step.ok) annotateResult(step.result, annotations);
  annotations.emit((text) => redactor.text(text));
  setOutput("ok", String(step.ok));
  setOutput("result", safeJson(step.result ?? null));
  if (step.error) setOutput("error-code", step.error.code);
  if (s?.summary !== false && process.env.GITHUB_STEP_SUMMARY) {
    try {
      await core.summary
        .addRaw(
          redactor.text(
            renderSummary({
              command: step.command,
              ok: step.ok,
              result: step.result,
              ...(step.error ? { error: step.error } : {}),
              database: lines,
              sections: step.sections,
              ...(step.tasks ? { tasks: step.tasks } : {}),
            }),
          ),
        )
        .write();
    } catch (error) {
      warn(`the job summary could not be written: ${(error as Error).message}`);
    }
  }
  // The failure's annotation is already out (with a title); core.setFailed would add a second.
  if (!step.ok) process.exitCode = 1;
}

const ALARMING_HEALTH = new Set(["stalled", "critical", "dead"]);

/**
 * Problems a successful command reports in its result: unhealthy or failed agents (`agents
 * list`, `agents health`, `agents report`) and merge conflicts (`worktrees merge`).
 */
export function annotateResult(result: unknown, annotations: Annotations): void {
  if (typeof result !== "object" || result === null) return;
  const r = result as Record<string, unknown>;
  const nested = r.now as { agents?: unknown } | undefined;
  const agents = Array.isArray(r.agents)
    ? r.agents
    : Array.isArray(nested?.agents)
      ? nested.agents
      : [];
  for (const a of agents as Record<string, unknown>[]) {
    const id = String(a.agent_id);
    if (ALARMING_HEALTH.has(String(a.health))) {
      const reasons = Array.isArray(a.reasons) ? a.reasons.join("; ") : "";
      annotations.error(`agent ${id} is ${a.health}`, reasons || `task ${a.task_id ?? "none"}`);
    } else if (a.status === "failed") {
      annotations.error(
        `agent ${id} failed`,
        String(a.end_reason ?? `task ${a.task_id ?? "none"}`),
      );
    }
  }
  if (r.status === "conflict" && typeof r.task_id === "string") {
    const paths = Array.isArray(r.conflicts) ? r.conflicts.join(", ") : "";
    annotations.warning(
      `task ${r.task_id} conflicts`,
      `merge conflict in ${paths || "its branch"}`,
    );
  }
}

function describe(error: unknown): { code: string; message: string; details?: unknown } {
  if (error instanceof InputError)
    return { code: "InvalidInput", message: error.message, details: error.details };
  if (error instanceof StateError)
    return { code: error.code, message: error.message, details: error.details };
  return { code: "ActionError", message: error instanceof Error ? error.message : String(error) };
}

/** The step's command line: the CLI's command from the inputs, or the action's own commands. */
function planCommand(
  st: Settings,
  env: NodeJS.ProcessEnv,
): { line?: CommandLine; special?: string; skipped?: string } {
  const command = st.inputs.get("command") ?? "";
  if (command === PR_MERGED || command === COLLECT) {
    const extra = [...st.inputs.keys()].filter(
      (k) => !(ACTION_INPUTS as readonly string[]).includes(k),
    );
    if (extra.length > 0)
      throw new InputError(`${command} takes none of the inputs ${extra.join(", ")}`);
    if (command === COLLECT) return { special: COLLECT };
    const merged = mergedPullRequest(env.GITHUB_EVENT_NAME, readEvent(env.GITHUB_EVENT_PATH));
    if ("skipped" in merged) return { special: PR_MERGED, skipped: merged.skipped };
    return {
      special: PR_MERGED,
      line: {
        path: ["tasks", "complete"],
        options: [`--reason=merged in pull request #${merged.pull_request} (${merged.branch})`],
        args: [merged.task_id],
      },
    };
  }
  return { line: commandLine(buildProgram(), st.inputs) };
}

async function databaseStep(
  st: Settings,
  env: NodeJS.ProcessEnv,
  store: ArtifactStore,
  database: string[],
  annotations: Annotations,
): Promise<Step> {
  const plan = planCommand(st, env);
  const name = plan.special ?? plan.line!.path.join(" ");
  if (plan.skipped) {
    log(`${name}: nothing to do: ${plan.skipped}`);
    return {
      command: name,
      ok: true,
      result: { skipped: plan.skipped },
      sections: [],
      save: false,
    };
  }

  const dir = join(st.temp, "orchestrator");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const dbPath = join(dir, DB_FILE);
  const restored: Restored = await core.group("Restore the database", () =>
    restoreDatabase({
      store,
      base: st.base,
      dbPath,
      maxBytes: st.maxBytes,
      init: st.init,
      expectedId: st.expectedId,
      nativeBinding: st.binding,
      log,
    }),
  );
  database.push(
    restored.artifact
      ? `Restored generation ${restored.generation} from artifact ${restored.artifact.id} (${md(restored.artifact.name)}, run ${restored.artifact.runId}).`
      : "Started a fresh database (`init: true`, no artifact found).",
  );
  setOutput("restored-artifact-id", String(restored.artifact?.id ?? ""));
  const before = fingerprint(dbPath, st.binding);

  const step = await core.group(`Run ${name}`, async () => {
    if (plan.special === COLLECT) return collectStep(st, store, dbPath, annotations);
    return commandStep(st, name, plan.line!, dbPath, annotations);
  });

  if (GRAPH_COMMANDS.has(name)) {
    try {
      const o = openOrchestrator({
        db: dbPath,
        repo: st.workspace,
        cwd: st.workspace,
        ...(st.binding ? { nativeBinding: st.binding } : {}),
      });
      try {
        step.tasks = listTasks(o).tasks;
      } finally {
        o.close();
      }
    } catch (error) {
      warn(`the task graph could not be read: ${(error as Error).message}`);
    }
  }

  const after = fingerprint(dbPath, st.binding);
  if (step.save && (after !== before || step.alwaysSave) && after !== undefined) {
    const saved = await core.group("Upload the database", () =>
      saveDatabase({
        store,
        base: st.base,
        dbPath,
        restored,
        runId: st.runId,
        retentionDays: st.retentionDays,
        writer: { ...st.writer, command: name },
        nativeBinding: st.binding,
        log,
      }),
    );
    database.push(
      `Uploaded generation ${saved.generation} as artifact ${saved.artifact.id} (${md(saved.artifact.name)}), kept ${st.retentionDays} days${saved.replaced ? `; replaced this run's older copy ${md(saved.replaced)}` : ""}.`,
    );
    setOutput("generation", String(saved.generation));
    setOutput("artifact-id", String(saved.artifact.id));
    setOutput("db-artifact-id", String(saved.artifact.id));
  } else {
    database.push(
      step.save
        ? "Unchanged: nothing uploaded."
        : "Not uploaded: the command failed, so nothing changed.",
    );
    setOutput("generation", String(restored.generation));
    setOutput("db-artifact-id", String(restored.artifact?.id ?? ""));
  }
  if (step.afterSave) step.afterSave();
  return step;
}

async function commandStep(
  st: Settings,
  name: string,
  line: CommandLine,
  dbPath: string,
  annotations: Annotations,
): Promise<Step> {
  const argv = toArgv(line, [`--db=${dbPath}`, "--json"]);
  log(`orchestrator ${toArgv(line).join(" ")}`);
  // Processes the command starts (agents, git) inherit no input and no runner token.
  const run = await withoutRunnerSecrets(() =>
    runCli(argv, {
      cwd: st.workspace,
      ...(st.binding ? { nativeBinding: st.binding } : {}),
      stderr: (t) => log(t.trimEnd()),
    }),
  );
  const doc = run.document as
    | { ok: true; command: string; result: unknown }
    | { ok: false; error: { code: string; message: string; details: unknown } }
    | undefined;
  if (!doc) {
    return {
      command: name,
      ok: false,
      sections: [],
      save: false,
      error: {
        code: "InternalError",
        message: `the command printed no result (exit ${run.exitCode})`,
      },
    };
  }
  log(shorten(redactor.text(safeJson(doc)), 4000)); // redacted before it is cut
  if (!doc.ok) return { command: name, ok: false, sections: [], save: false, error: doc.error };
  const step: Step = {
    command: name,
    ok: true,
    result: doc.result,
    sections: [],
    save: true,
    alwaysSave: name === "init",
  };
  if (name === "assign") assignOutputs(doc.result as AssignResult, step, annotations);
  return step;
}

interface AssignResult {
  status: string;
  tasks_assigned: number;
  running: number;
  max_parallel: number;
  blocked_tasks: number;
  dry_run: boolean;
  assignments: { task_id: string; title: string; agent_type: string }[];
  blockers: { task_id: string; status: string; reason: string | null; waiting: number }[];
}

/** `matrix` for `strategy.matrix: ${{ fromJSON(...) }}` and `has-work` to skip an empty one. */
function assignOutputs(result: AssignResult, step: Step, annotations: Annotations): void {
  const include = result.assignments.map((a) => ({
    task_id: a.task_id,
    agent_type: a.agent_type,
    title: a.title,
  }));
  setOutput("matrix", safeJson({ include }));
  setOutput("has-work", String(include.length > 0));
  step.sections.push(
    `${result.dry_run ? "Dry run: would assign" : "Assigned"} **${result.tasks_assigned}** (${md(result.status)}); running ${result.running}/${result.max_parallel}, ${result.blocked_tasks} blocked.\n`,
  );
  if (include.length > 0) {
    step.sections.push(
      "### Assignments\n",
      mdTable(include, [
        { header: "task", value: (a) => a.task_id },
        { header: "agent type", value: (a) => a.agent_type },
        { header: "title", value: (a) => a.title },
      ]),
    );
  }
  for (const b of result.blockers) {
    if (b.status === "failed" || b.status === "conflict") {
      annotations.warning(
        `task ${b.task_id} is ${b.status}`,
        `it holds back ${b.waiting} task(s)${b.reason ? `: ${b.reason}` : ""}; fix it, then \`tasks retry ${b.task_id}\``,
      );
    }
  }
}

async function collectStep(
  st: Settings,
  store: ArtifactStore,
  dbPath: string,
  annotations: Annotations,
): Promise<Step> {
  const runId = Number(st.inputs.get("run-id") ?? st.runId);
  if (!Number.isSafeInteger(runId) || runId <= 0)
    throw new InputError("run-id must be a workflow run id");
  const result: CollectResult = await collectJournals({
    store,
    base: st.base,
    runId,
    dbPath,
    cwd: st.workspace,
    nativeBinding: st.binding,
    log,
  });
  for (const r of result.results.filter((x) => !x.ok)) {
    annotations.warning(
      `journal entry not applied: ${r.argv.slice(0, 2).join(" ")}`,
      `${r.code}: ${r.message}`,
    );
  }
  for (const j of result.rejected_journals) {
    annotations.error(`journal ${j.name} refused`, j.reason);
  }
  const step: Step = {
    command: COLLECT,
    ok: true,
    result,
    sections: [
      `Applied **${result.applied}** of ${result.entries} journal entries from ${result.journals} journal(s) of run ${runId}; ${result.already_applied} applied before, ${result.failed} failed.\n`,
    ],
    save: true,
  };
  if (result.rejected_journals.length > 0) {
    // The entries that were applied are saved first; then the step fails.
    step.afterSave = () => {
      step.ok = false;
      step.error = {
        code: "JournalRejected",
        message: `${result.rejected_journals.length} journal artifact(s) refused: ${result.rejected_journals.map((j) => `${j.name}: ${j.reason}`).join("; ")}`,
      };
    };
  }
  return step;
}

/** A matrix job's step: the command goes into this job's journal, uploaded as an artifact. */
async function journalStep(st: Settings, store: ArtifactStore, database: string[]): Promise<Step> {
  const line = commandLine(buildProgram(), st.inputs);
  const name = line.path.join(" ");
  const argv = toArgv(line);
  checkJournalArgv(argv);
  return core.group(`Journal ${name}`, async () => {
    const file = join(st.temp, "orchestrator-journal", JOURNAL_FILE);
    const entry = appendToJournal(
      file,
      argv,
      { ...st.writer, key: st.inputs.get("journal-key") ?? st.writer.job },
      st.binding,
    );
    const artifactName = journalArtifactName(
      st.base,
      st.inputs.get("journal-key") ?? st.writer.job,
      entry,
    );
    const uploaded = await store.upload(artifactName, file, Math.min(st.retentionDays, 7));
    database.push(
      `Journaled \`${md(argv.join(" "))}\` (entry ${entry.seq}) as artifact ${uploaded.id} (${md(artifactName)}); a \`collect\` step applies it.`,
    );
    return {
      command: name,
      ok: true,
      result: {
        journaled: true,
        journal_id: entry.journal_id,
        seq: entry.seq,
        argv,
        artifact: { id: uploaded.id, name: artifactName },
      },
      sections: [],
      save: false,
    };
  });
}
