#!/usr/bin/env bash
# The quick-start demo: a throwaway git repository in a temp dir (never your checkout), the
# example plan loaded into it, and a few rounds of assign / complete.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cli="$root/packages/cli/dist/orchestrator.js"
work="$(mktemp -d "${TMPDIR:-/tmp}/orchestrator-demo.XXXXXX")"
cd "$work"
git init -q -b main . && git -c user.name=demo -c user.email=demo@example.com commit -q --allow-empty -m "initial"

run() {
  printf '\n\033[1m$ orchestrator %s\033[0m\n' "$*"
  node "$cli" "$@"
}

echo "Demo repository: $work"
run init
run tasks import "$root/examples/plan.yaml"
run tasks list
run assign --max-parallel 3
run tasks complete db-schema
run assign --max-parallel 3 --json
run tasks show auth-integration
echo
echo "Done. The demo's database is $work/.orchestrator/orchestrator.db; remove $work when finished."
