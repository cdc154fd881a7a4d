#!/usr/bin/env bash
# Builds one of the project's N-API addons with node-gyp, offline: npm's
# bundled node-gyp and the installed Node's headers, never a download.
# The daemon runs without any addon (each disables one feature and says so),
# so a failed build prints a warning and exits 0, unless STRICT_VAR is set
# to 1 in the environment.
#
#   build-addon.sh NAME DIR OUTPUT SOURCE DISABLED_TEXT STRICT_VAR
set -uo pipefail
cd "$(dirname "$0")/.."
name="$1" dir="$2" out="$3" src="$4" disabled="$5" strict_var="$6"

warn() {
  echo "$name: WARNING: $*" >&2
  echo "$name: WARNING: $disabled" >&2
  if [ "${!strict_var:-0}" = 1 ]; then exit 1; fi
  exit 0
}

# node-gyp: the one npm bundles (no download), else one on PATH.
gyp=()
npm_root="$(npm root -g 2>/dev/null || true)"
for cand in \
  "$(dirname "$(command -v node)")/../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js" \
  "${npm_root:+$npm_root/npm/node_modules/node-gyp/bin/node-gyp.js}" \
  /usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js \
  /usr/local/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js; do
  if [ -n "$cand" ] && [ -f "$cand" ]; then gyp=(node "$cand"); break; fi
done
if [ "${#gyp[@]}" -eq 0 ] && command -v node-gyp >/dev/null 2>&1; then gyp=(node-gyp); fi
[ "${#gyp[@]}" -gt 0 ] || warn "node-gyp not found (it ships with npm)"

# Headers: npm's nodedir setting if any, else the Node install's own include dir.
nodedir="${npm_config_nodedir:-}"
if [ -z "$nodedir" ]; then
  nodedir="$(npm config get nodedir 2>/dev/null | tail -n1 || true)"
  case "$nodedir" in undefined|null) nodedir="" ;; esac
fi
if [ -z "$nodedir" ]; then nodedir="$(cd "$(dirname "$(command -v node)")/.." && pwd)"; fi
[ -f "$nodedir/include/node/node_api.h" ] || warn "Node headers not found under $nodedir/include/node (set npm_config_nodedir)"

if [ -f "$out" ] && [ "$out" -nt "$src" ] && [ "$out" -nt "$dir/binding.gyp" ]; then
  echo "$name: $out is up to date"
  exit 0
fi

echo "$name: building $out (node-gyp, headers from $nodedir)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! (cd "$dir" && "${gyp[@]}" rebuild --nodedir="$nodedir" --jobs=2) >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  warn "the addon failed to build (output above)"
fi
[ -f "$out" ] || warn "node-gyp succeeded but $out is missing"
if grep -q 'warning:' "$log"; then grep 'warning:' "$log" >&2; fi
echo "$name: built $out"
