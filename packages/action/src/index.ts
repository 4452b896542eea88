import { runCli } from "@orchestrator/cli";
import { run } from "./main.js";
import { nativeBinding } from "./native.js";

// The runner starts the action without arguments. With arguments the bundle is the CLI itself:
// the supervisors and agents that a command such as `agents spawn` starts call back into it
// (ORCHESTRATOR_CLI), and must never run the action's step (inputs, outputs, uploads) again.
if (process.argv.length > 2) {
  const binding = nativeBinding();
  const result = await runCli(process.argv.slice(2), {
    ...(binding ? { nativeBinding: binding } : {}),
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  });
  process.exitCode = result.exitCode;
} else {
  // Node prints an uncaught error straight to file descriptor 2, past the redaction of
  // process.stderr: the step's own errors go through process.stderr instead.
  const fail = (error: unknown) => {
    process.stderr.write(
      `orchestrator: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  };
  process.on("uncaughtException", fail);
  process.on("unhandledRejection", fail);
  await run().catch(fail);
}
