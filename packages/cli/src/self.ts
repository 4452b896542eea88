import { resolve } from "node:path";

/** This CLI as a command line (the running entry script): supervisors and agents run it to report back. */
export function cliCommand(): string[] {
  return [process.execPath, resolve(process.argv[1]!)];
}

/** How an agent's supervisor is started: this CLI's hidden `agents supervise`. */
export const supervisorCommand = (): string[] => [...cliCommand(), "agents", "supervise"];
