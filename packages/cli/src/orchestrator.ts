import { main } from "./program.js";

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(
    `orchestrator: internal error: ${error instanceof Error ? error.stack : String(error)}\n`,
  );
  process.exitCode = 1;
});
