import { SCHEMA_VERSION } from "@orchestrator/db";
import type { Command } from "commander";
import { execute } from "../output.js";

export function registerInit(program: Command): void {
  program
    .command("init")
    .description("create the orchestrator database (or bring its schema up to date)")
    .addHelpText(
      "after",
      "\nExample:\n  $ orchestrator init\n  $ orchestrator init --db /tmp/orchestrator.db",
    )
    .action(async (_options, cmd: Command) => {
      await execute(
        "init",
        cmd,
        (o) => ({
          db: o.paths.dbPath,
          repo: o.paths.repoRoot,
          config: o.paths.configPath,
          schema_version: SCHEMA_VERSION,
          tasks: o.tasks.counts().reduce((sum, c) => sum + c.n, 0),
        }),
        (r) =>
          `Database ready at ${r.db} (schema version ${r.schema_version}, ${r.tasks} tasks).\nNext: orchestrator tasks import <plan.yaml>`,
      );
    });
}
