export { attachIo, type CliIo, ioOf, processIo } from "./io.js";
export { buildProgram, main, type RunOptions, type RunResult, runCli, VERSION } from "./program.js";
