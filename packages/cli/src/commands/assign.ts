import { assign, DEFAULT_MAX_PARALLEL, renderAssign } from "@orchestrator/core";
import type { Command } from "commander";
import { execute } from "../output.js";
import { commaList, wholeNumber } from "../parse.js";

interface AssignFlags {
  priorityId?: string;
  taskIds?: string[];
  agentType?: string;
  maxParallel: number;
  dryRun?: boolean;
}

export function registerAssign(program: Command): void {
  program
    .command("assign")
    .description(
      "assign ready tasks (every dependency completed) to agent types, up to --max-parallel running",
    )
    .option("--priority-id <group>", "only tasks of this group")
    .option("--task-ids <ids>", "only these tasks (comma-separated)", commaList)
    .option("--agent-type <type>", "only tasks for this agent type")
    .option(
      "--max-parallel <n>",
      "most tasks assigned or in progress at once",
      wholeNumber(1),
      DEFAULT_MAX_PARALLEL,
    )
    .option("--dry-run", "show what would be assigned; change nothing")
    .addHelpText(
      "after",
      "\nExamples:\n  $ orchestrator assign --max-parallel 3\n  $ orchestrator assign --priority-id PRIORITY-32 --dry-run --json",
    )
    .action(async (flags: AssignFlags, cmd: Command) => {
      await execute(
        "assign",
        cmd,
        (o) =>
          assign(o, {
            maxParallel: flags.maxParallel,
            dryRun: flags.dryRun ?? false,
            ...(flags.priorityId !== undefined ? { priorityId: flags.priorityId } : {}),
            ...(flags.taskIds !== undefined ? { taskIds: flags.taskIds } : {}),
            ...(flags.agentType !== undefined ? { agentType: flags.agentType } : {}),
          }),
        renderAssign,
      );
    });
}
