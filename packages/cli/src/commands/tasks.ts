import {
  completeTask,
  failTask,
  importPlan,
  listTasks,
  type Plan,
  parsePlan,
  readPlanFile,
  renderImport,
  renderTaskDetail,
  renderTaskList,
  renderTransition,
  retryTask,
  showTask,
  validatePlanShape,
} from "@orchestrator/core";
import { TASK_STATUSES, type TaskStatus } from "@orchestrator/db";
import type { Command } from "commander";
import { execute, executeWith } from "../output.js";
import { commaList, oneOf, wholeNumber } from "../parse.js";

interface AddFlags {
  title: string;
  group?: string;
  priority?: number;
  agentType?: string;
  dependsOn?: string[];
  files?: string[];
}

export function registerTasks(program: Command): void {
  const tasks = program
    .command("tasks")
    .description("the task graph: add, import a plan, list, show, complete, fail, retry");

  tasks
    .command("import <plan>")
    .description("load a plan file (YAML or JSON) in one transaction, all or nothing")
    .addHelpText("after", "\nExample:\n  $ orchestrator tasks import examples/plan.yaml")
    .action(async (file: string, _flags, cmd: Command) => {
      await executeWith(
        "tasks import",
        cmd,
        () => validPlan(readPlanFile(file)),
        (o, plan) => importPlan(o, plan),
        renderImport,
      );
    });

  tasks
    .command("add <id>")
    .description("add one task")
    .requiredOption("--title <title>", "what the task is")
    .option("--group <group>", "its group (priority_id)")
    .option("--priority <n>", "lower runs first", wholeNumber(-1_000_000))
    .option("--agent-type <type>", "the agent type that works on it")
    .option("--depends-on <ids>", "tasks that must be completed first (comma-separated)", commaList)
    .option(
      "--files <patterns>",
      "paths or globs it is expected to touch (comma-separated)",
      commaList,
    )
    .addHelpText(
      "after",
      '\nExample:\n  $ orchestrator tasks add auth-api --title "Add the auth API" --depends-on db-schema --files "src/auth/**"',
    )
    .action(async (id: string, flags: AddFlags, cmd: Command) => {
      await executeWith(
        "tasks add",
        cmd,
        () =>
          validPlan(
            parsePlan(
              {
                tasks: [
                  {
                    id,
                    title: flags.title,
                    depends_on: flags.dependsOn ?? [],
                    ...(flags.group !== undefined ? { group: flags.group } : {}),
                    ...(flags.priority !== undefined ? { priority: flags.priority } : {}),
                    ...(flags.agentType !== undefined ? { agent_type: flags.agentType } : {}),
                    ...(flags.files !== undefined ? { files: flags.files } : {}),
                  },
                ],
              },
              "tasks add",
            ),
          ),
        (o, plan) => {
          importPlan(o, plan, { insertOnly: true });
          return showTask(o, id);
        },
        renderTaskDetail,
      );
    });

  tasks
    .command("list")
    .description("every task with its status and what it waits on")
    .option(
      "--status <status>",
      `only this status (${TASK_STATUSES.join(", ")})`,
      oneOf(TASK_STATUSES),
    )
    .option("--group <group>", "only this group")
    .option("--agent-type <type>", "only this agent type")
    .addHelpText("after", "\nExample:\n  $ orchestrator tasks list --status pending --json")
    .action(
      async (flags: { status?: TaskStatus; group?: string; agentType?: string }, cmd: Command) => {
        await execute("tasks list", cmd, (o) => listTasks(o, flags), renderTaskList);
      },
    );

  tasks
    .command("show <id>")
    .description("one task: why it is or is not ready, what it waits on, what waits on it")
    .addHelpText("after", "\nExample:\n  $ orchestrator tasks show auth-api")
    .action(async (id: string, _flags, cmd: Command) => {
      await execute("tasks show", cmd, (o) => showTask(o, id), renderTaskDetail);
    });

  tasks
    .command("complete <id>")
    .description(
      "mark a task completed (merged into the integration branch); unblocks its dependents",
    )
    .option("--reason <text>", "why, for the record")
    .addHelpText("after", "\nExample:\n  $ orchestrator tasks complete db-schema")
    .action(async (id: string, flags: { reason?: string }, cmd: Command) => {
      await execute(
        "tasks complete",
        cmd,
        (o) => completeTask(o, id, flags.reason ?? null),
        renderTransition,
      );
    });

  tasks
    .command("fail <id>")
    .description("mark a task failed")
    .option("--reason <text>", "what went wrong")
    .addHelpText(
      "after",
      '\nExample:\n  $ orchestrator tasks fail auth-api --reason "tests do not pass"',
    )
    .action(async (id: string, flags: { reason?: string }, cmd: Command) => {
      await execute(
        "tasks fail",
        cmd,
        (o) => failTask(o, id, flags.reason ?? null),
        renderTransition,
      );
    });

  tasks
    .command("retry <id>")
    .description("put a failed, conflicted or cancelled task back to pending")
    .addHelpText("after", "\nExample:\n  $ orchestrator tasks retry auth-api")
    .action(async (id: string, _flags, cmd: Command) => {
      await execute("tasks retry", cmd, (o) => retryTask(o, id), renderTransition);
    });
}

/** A plan checked on its own (ids, duplicates, self-dependencies) before any database opens. */
function validPlan(plan: Plan): Plan {
  validatePlanShape(plan.tasks);
  return plan;
}
