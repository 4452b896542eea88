#!/usr/bin/env bash
# The quick-start demo: `orchestrator run` on the example plan, in a throwaway git repository
# in a temp dir (never your checkout), with the demo agent doing each task's work.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cli="$root/packages/cli/dist/orchestrator.js"
work="$(mktemp -d "${TMPDIR:-/tmp}/orchestrator-demo.XXXXXX")"
repo="$work/repo"
mkdir -p "$repo/tools"
cd "$repo"
git init -q -b main .
git config user.name "Demo agent"
git config user.email "demo-agent@example.com"
git config commit.gpgsign false
cp "$root/examples/demo-agent.mjs" tools/demo-agent.mjs
cp "$root/examples/demo.config.yaml" orchestrator.config.yaml
printf '# demo\n' >README.md
git add -A && git commit -q -m "initial: the demo agent and its config"

show() {
  printf '\n\033[1m$ %s\033[0m\n' "$*"
  "$@"
}

echo "Demo repository: $repo (worktrees in $work/worktrees)"
status=0
show node "$cli" run --plan "$root/examples/plan.yaml" --max-parallel 3 || status=$?
show git log --graph --oneline --first-parent roadmap
echo
echo "The database is $repo/.orchestrator/orchestrator.db; try \`node $cli tasks list\` in $repo."
echo "Remove $work when finished."
exit "$status"
