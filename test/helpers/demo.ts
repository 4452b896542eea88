import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./cli.js";
import { git, tempRepo } from "./git.js";
import { tempDir } from "./tmp.js";

export const DEMO_PLAN = join(ROOT, "examples", "plan.yaml");

/**
 * The demo's set-up (as scripts/demo.sh makes it): a repository at <tmp>/repo holding the demo
 * agent and its config, so worktrees land in <tmp>/worktrees.
 */
export function demoRepo(config?: string): { base: string; repo: string } {
  const base = tempDir("orch-run-");
  const repo = tempRepo(join(base, "repo"));
  mkdirSync(join(repo, "tools"));
  copyFileSync(join(ROOT, "examples", "demo-agent.mjs"), join(repo, "tools", "demo-agent.mjs"));
  if (config === undefined) {
    copyFileSync(
      join(ROOT, "examples", "demo.config.yaml"),
      join(repo, "orchestrator.config.yaml"),
    );
  } else {
    writeFileSync(join(repo, "orchestrator.config.yaml"), config);
  }
  git(repo, "add", "-A");
  git(repo, "commit", "-q", "-m", "the demo agent and its config");
  return { base, repo };
}
