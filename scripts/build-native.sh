#!/usr/bin/env bash
# Builds the TCP-MD5 / GTSM addon (native/) with node-gyp. The daemon runs
# without it (peers that need a password or ttlSecurity stay down with a
# clear error), so a failed build warns and exits 0. Set
# CALICO_BGPD_NATIVE_STRICT=1 to make a failure fatal (CI that tests MD5).
set -uo pipefail
cd "$(dirname "$0")/.."

warn() {
  echo "build-native: WARNING: $*" >&2
  echo "build-native: WARNING: TCP-MD5 passwords and GTSM (ttlSecurity) are DISABLED; sessions that need them will stay down." >&2
  if [ "${CALICO_BGPD_NATIVE_STRICT:-0}" = 1 ]; then exit 1; fi
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

# Headers: npm's nodedir setting if any, else the Node install's own include dir
# (never a download).
nodedir="${npm_config_nodedir:-}"
if [ -z "$nodedir" ]; then
  nodedir="$(npm config get nodedir 2>/dev/null | tail -n1 || true)"
  case "$nodedir" in undefined|null) nodedir="" ;; esac
fi
if [ -z "$nodedir" ]; then nodedir="$(cd "$(dirname "$(command -v node)")/.." && pwd)"; fi
[ -f "$nodedir/include/node/node_api.h" ] || warn "Node headers not found under $nodedir/include/node (set npm_config_nodedir)"

# Up to date: nothing to do.
out=native/build/Release/bgp_sockopt.node
if [ -f "$out" ] && [ "$out" -nt native/src/sockopt.c ] && [ "$out" -nt native/binding.gyp ]; then
  echo "build-native: $out is up to date"
  exit 0
fi

echo "build-native: building $out (node-gyp, headers from $nodedir)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! (cd native && "${gyp[@]}" rebuild --nodedir="$nodedir" --jobs=2) >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  warn "the native addon failed to build (output above)"
fi
[ -f "$out" ] || warn "node-gyp succeeded but $out is missing"
echo "build-native: built $out"
