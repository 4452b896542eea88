// The CLI's entry: checks the Node.js version before anything loads the SQLite addon (which
// crashes on an unsupported Node instead of failing cleanly), then runs the CLI.
const major = Number(process.versions.node.split(".")[0]);
if (major < 22) {
  process.stderr.write(
    `orchestrator needs Node.js 22 or newer; this is ${process.version}. Run \`source scripts/env.sh\` in the orchestrator checkout to put Node 24 on PATH.\n`,
  );
  process.exit(1);
}
// V8's compile cache (in the temp directory, keyed by the code's hash) saves a fresh process
// compiling the bundle again: a third of a short command's time.
(await import("node:module")).enableCompileCache?.();
const { main, internalErrorText } = await import("./program.js");
main(process.argv.slice(2)).catch((error: unknown) => {
  // The stack's message may quote user input: printed through the same safe renderer.
  process.stderr.write(internalErrorText(error));
  process.exitCode = 1;
});
