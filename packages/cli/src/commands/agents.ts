import {
  activityReport,
  checkHealth,
  invalidInput,
  killAgent,
  listAgents,
  openOrchestrator,
  recordHeartbeat,
  renderAgentTable,
  renderHealth,
  renderKill,
  renderReport,
  renderReportMarkdown,
  renderSpawn,
  restartAgent,
  spawnAgent,
  superviseAgent,
} from "@orchestrator/core";
import type { Command } from "commander";
import { ioOf } from "../io.js";
import { contextOptions, execute, globalOptions } from "../output.js";
import { duration, oneOf } from "../parse.js";
import { cliCommand, supervisorCommand } from "../self.js";

export function registerAgents(program: Command): void {
  const agents = program
    .command("agents")
    .description(
      "spawn, supervise, restart and kill agents; health, stalls, deadlocks, activity reports",
    );

  agents
    .command("spawn")
    .description("start an agent of a configured type, detached, in its task's worktree")
    .requiredOption(
      "--agent-type <type>",
      "a type configured under `agents:` in orchestrator.config.yaml",
    )
    .option("--task-id <id>", "the assigned task it works on")
    .addHelpText(
      "after",
      "\nExample:\n  $ orchestrator agents spawn --agent-type code_developer --task-id auth-api",
    )
    .action(async (flags: { agentType: string; taskId?: string }, cmd: Command) => {
      await execute(
        "agents spawn",
        cmd,
        (o) =>
          spawnAgent(o, {
            agentType: flags.agentType,
            ...(flags.taskId !== undefined ? { taskId: flags.taskId } : {}),
            supervisorCommand: supervisorCommand(),
          }),
        renderSpawn,
      );
    });

  agents
    .command("list")
    .description("live agents (or every incarnation with --all) with their health")
    .option("--agent-type <type>", "only this type")
    .option("--all", "include agents that have ended")
    .addHelpText("after", "\nExample:\n  $ orchestrator agents list --all --json")
    .action(async (flags: { agentType?: string; all?: boolean }, cmd: Command) => {
      await execute(
        "agents list",
        cmd,
        (o) => listAgents(o, flags),
        (r, style) => renderAgentTable(r.agents, style),
      );
    });

  agents
    .command("health")
    .description(
      "classify live agents (healthy, warning, stalled, critical, dead); kill singleton duplicates",
    )
    .option(
      "--auto-restart",
      "restart dead and stalled agents, with exponential backoff and a crash-loop limit",
    )
    .addHelpText("after", "\nExample:\n  $ orchestrator agents health --auto-restart")
    .action(async (flags: { autoRestart?: boolean }, cmd: Command) => {
      await execute(
        "agents health",
        cmd,
        (o) =>
          checkHealth(o, {
            autoRestart: flags.autoRestart ?? false,
            supervisorCommand: supervisorCommand(),
          }),
        renderHealth,
      );
    });

  agents
    .command("heartbeat")
    .description("an agent says it is alive (and what it is waiting on)")
    .requiredOption("--agent-id <id>", "the agent (ORCHESTRATOR_AGENT_ID in its environment)")
    .option("--status <activity>", "working or waiting", oneOf(["working", "waiting"] as const))
    .option("--waiting-on <id>", "the agent or task it waits on")
    .addHelpText(
      "after",
      '\nExample:\n  $ orchestrator agents heartbeat --agent-id "$ORCHESTRATOR_AGENT_ID" --status working',
    )
    .action(
      async (
        flags: { agentId: string; status?: "working" | "waiting"; waitingOn?: string },
        cmd: Command,
      ) => {
        await execute(
          "agents heartbeat",
          cmd,
          (o) =>
            recordHeartbeat(o, flags.agentId, {
              ...(flags.status !== undefined ? { activity: flags.status } : {}),
              waitingOn: flags.waitingOn ?? null,
            }),
          (r) => `Heartbeat recorded for ${r.agent_id}.`,
        );
      },
    );

  agents
    .command("restart")
    .description("stop an agent (if live) and start a new incarnation on the same task")
    .requiredOption("--agent-id <id>", "the agent")
    .addHelpText(
      "after",
      "\nExample:\n  $ orchestrator agents restart --agent-id code_developer-1a2b3c4d",
    )
    .action(async (flags: { agentId: string }, cmd: Command) => {
      await execute(
        "agents restart",
        cmd,
        (o) => restartAgent(o, flags.agentId, supervisorCommand()),
        (r) => renderSpawn(r.new_agent),
      );
    });

  agents
    .command("kill")
    .description("SIGTERM the agent's process group, then SIGKILL after the grace period")
    .requiredOption("--agent-id <id>", "the agent")
    .option(
      "--grace <duration>",
      "how long to wait after SIGTERM (default from the config, 10s)",
      duration,
    )
    .addHelpText(
      "after",
      "\nExample:\n  $ orchestrator agents kill --agent-id code_developer-1a2b3c4d --grace 5s",
    )
    .action(async (flags: { agentId: string; grace?: number }, cmd: Command) => {
      await execute(
        "agents kill",
        cmd,
        (o) =>
          killAgent(o, flags.agentId, flags.grace !== undefined ? { graceMs: flags.grace } : {}),
        renderKill,
      );
    });

  agents
    .command("report")
    .description(
      "what happened since a time, and what stands now (agents, tasks, worktrees, deadlocks)",
    )
    .option("--since <duration>", "how far back", duration, 24 * 3_600_000)
    .option("--markdown", "GitHub-flavoured Markdown with a mermaid graph (for a job summary)")
    .addHelpText(
      "after",
      '\nExamples:\n  $ orchestrator agents report --since 6h\n  $ orchestrator agents report --markdown >> "$GITHUB_STEP_SUMMARY"',
    )
    .action(async (flags: { since: number; markdown?: boolean }, cmd: Command) => {
      await execute(
        "agents report",
        cmd,
        (o) => activityReport(o, o.now() - flags.since),
        (r, style) => (flags.markdown ? renderReportMarkdown(r) : renderReport(r, style)),
      );
    });

  agents
    .command("supervise", { hidden: true })
    .requiredOption("--agent-id <id>")
    .action(async (flags: { agentId: string }, cmd: Command) => {
      // The bundled action's supervisors need the shipped SQLite binary, like every command.
      const binding = ioOf(cmd).nativeBinding;
      const o = openOrchestrator({
        ...contextOptions(globalOptions(cmd)),
        ...(binding !== undefined ? { nativeBinding: binding } : {}),
      });
      try {
        process.exitCode = await superviseAgent(o, flags.agentId, { cliCommand: cliCommand() });
      } catch (error) {
        throw invalidInput(`supervisor of ${flags.agentId} failed: ${(error as Error).message}`);
      } finally {
        o.close();
      }
    });
}
