import {
  DEFAULT_MAX_PARALLEL,
  type RunEvent,
  type RunProgress,
  type RunResult,
  readPlanFile,
  renderLiveView,
  renderRunEvent,
  renderRunResult,
  runWorkflow,
  safeJson,
} from "@orchestrator/core";
import type { Command } from "commander";
import { type CliIo, ioOf } from "../io.js";
import { execute, globalOptions, terminalStyle } from "../output.js";
import { duration, wholeNumber } from "../parse.js";
import { supervisorCommand } from "../self.js";

interface RunFlags {
  plan?: string;
  maxParallel: number;
  poll: number;
}

/** Exit statuses of a run that ended without an error. */
const OUTCOME_EXIT: Record<RunResult["outcome"], number> = {
  completed: 0,
  stuck: 8, // NoAvailableWork
  interrupted: 130, // like a shell's Ctrl-C
};

export function registerRun(program: Command): void {
  program
    .command("run")
    .description(
      "the whole workflow until the graph is done: assign, worktrees, agents, health, merges, clean-ups",
    )
    .option("--plan <file>", "import this plan first (YAML or JSON; re-importing is safe)")
    .option(
      "--max-parallel <n>",
      "most agents working at once",
      wholeNumber(1),
      DEFAULT_MAX_PARALLEL,
    )
    .option("--poll <duration>", "pause between rounds when nothing moved", duration, 250)
    .addHelpText(
      "after",
      "\nCtrl-C stops the agents gracefully and keeps every worktree and branch; run again to resume.\n" +
        "Exit status: 0 all completed, 8 stuck (nothing can move), 130 interrupted.\n" +
        "\nExamples:\n  $ orchestrator run --plan examples/plan.yaml --max-parallel 3\n  $ orchestrator run --json   # one JSON event per line, then the result",
    )
    .action(async (flags: RunFlags, cmd: Command) => {
      const io = ioOf(cmd);
      const json = globalOptions(cmd).json ?? false;
      const view = json ? jsonLines(io) : io.isTTY ? liveView(io) : plainLines(io);
      const stop = new AbortController();
      const onSigint = () => {
        if (stop.signal.aborted) process.exit(130); // a second Ctrl-C: leave at once
        stop.abort();
      };
      process.on("SIGINT", onSigint);
      process.on("SIGTERM", onSigint);
      let outcome: RunResult["outcome"] | undefined;
      try {
        await execute(
          "run",
          cmd,
          async (o) => {
            const result = await runWorkflow(o, {
              ...(flags.plan !== undefined ? { plan: readPlanFile(flags.plan) } : {}),
              maxParallel: flags.maxParallel,
              pollMs: flags.poll,
              supervisorCommand: supervisorCommand(),
              signal: stop.signal,
              onEvent: view.event,
              onProgress: view.progress,
            });
            view.end();
            outcome = result.outcome;
            return result;
          },
          renderRunResult,
        );
      } finally {
        process.off("SIGINT", onSigint);
        process.off("SIGTERM", onSigint);
      }
      if (outcome !== undefined && io.exitCode === 0) io.exitCode = OUTCOME_EXIT[outcome];
    });
}

interface View {
  event(e: RunEvent): void;
  progress(p: RunProgress): void;
  end(): void;
}

function jsonLines(io: CliIo): View {
  return {
    event: (e) => io.stdout(`${safeJson({ event: e })}\n`),
    progress: () => {},
    end: () => {},
  };
}

function plainLines(io: CliIo): View {
  return {
    event: (e) => io.stdout(`${renderRunEvent(e)}\n`),
    progress: () => {},
    end: () => {},
  };
}

/** Events scroll above a live block that is redrawn in place (ANSI: cursor up, clear below). */
function liveView(io: CliIo): View {
  const style = terminalStyle(io);
  let drawn = 0;
  let last: RunProgress | undefined;
  const clear = () => {
    if (drawn > 0) io.stdout(`\x1b[${drawn}F\x1b[J`);
    drawn = 0;
  };
  const draw = () => {
    if (!last) return;
    const text = renderLiveView(last, style, process.stdout.columns ?? 80);
    io.stdout(`${text}\n`);
    drawn = text.split("\n").length;
  };
  return {
    event: (e) => {
      clear();
      io.stdout(`${renderRunEvent(e, style)}\n`);
      draw();
    },
    progress: (p) => {
      last = p;
      clear();
      draw();
    },
    end: () => {
      clear();
      io.stdout("\n");
    },
  };
}
