# Source this file (bash or zsh): `source scripts/env.sh`.
# It puts a Node.js >= 22 and pnpm 10 on PATH. Where the machine's own are missing or too old,
# it installs Node 24 and pnpm 10 from the npm registry into .tools/ (once) and uses those.
# It only changes PATH in the calling shell; it never exits it.

_orch_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
_orch_tools="$_orch_root/.tools/node_modules/.bin"
_orch_node_version="24"
_orch_pnpm_version="10.34.9"

_orch_major() { "$@" --version 2>/dev/null | sed -E 's/^v?([0-9]+).*/\1/'; }

_orch_toolchain_ok() {
  command -v node >/dev/null 2>&1 && command -v pnpm >/dev/null 2>&1 || return 1
  [ "$(_orch_major node)" -ge 22 ] 2>/dev/null && [ "$(_orch_major pnpm)" -ge 10 ] 2>/dev/null
}

if [ -x "$_orch_tools/node" ] && [ -x "$_orch_tools/pnpm" ]; then
  case ":$PATH:" in *":$_orch_tools:"*) ;; *) export PATH="$_orch_tools:$PATH" ;; esac
elif ! _orch_toolchain_ok; then
  echo "orchestrator: installing Node.js $_orch_node_version and pnpm $_orch_pnpm_version into .tools/ (one time)" >&2
  if npm install --prefix "$_orch_root/.tools" --no-audit --no-fund --loglevel=error \
    "node@$_orch_node_version" "pnpm@$_orch_pnpm_version" >&2; then
    export PATH="$_orch_tools:$PATH"
  else
    echo "orchestrator: could not install Node.js and pnpm with npm; install Node.js >= 22 and pnpm 10 yourself" >&2
  fi
fi
unset -f _orch_major _orch_toolchain_ok
unset _orch_root _orch_tools _orch_node_version _orch_pnpm_version
