#!/usr/bin/env bash
# Builds the rtnetlink addon (native-netlink/) with node-gyp, offline: the
# node-gyp that npm bundles and the headers of the installed Node. The
# speaker runs without the addon (no kernel routes, one clear error at
# start), so a failed build prints a warning and exits 0. Set
# CALICO_BGPD_NETLINK_STRICT=1 to make a failure fatal.
set -uo pipefail
cd "$(dirname "$0")/.."

warn() {
  echo "build-native-netlink: WARNING: $*" >&2
  echo "build-native-netlink: WARNING: kernel route programming is DISABLED; the speaker will run without installing routes." >&2
  if [ "${CALICO_BGPD_NETLINK_STRICT:-0}" = 1 ]; then exit 1; fi
  exit 0
}

# node-gyp: npm's bundled copy first (never a download), then one on PATH.
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

# Headers: npm's nodedir if set, else the Node install's own include dir.
nodedir="${npm_config_nodedir:-}"
if [ -z "$nodedir" ]; then
  nodedir="$(npm config get nodedir 2>/dev/null | tail -n1 || true)"
  case "$nodedir" in undefined|null) nodedir="" ;; esac
fi
if [ -z "$nodedir" ]; then nodedir="$(cd "$(dirname "$(command -v node)")/.." && pwd)"; fi
[ -f "$nodedir/include/node/node_api.h" ] || warn "Node headers not found under $nodedir/include/node (set npm_config_nodedir)"

out=native-netlink/build/Release/netlink.node
if [ -f "$out" ] && [ "$out" -nt native-netlink/src/netlink.c ] && [ "$out" -nt native-netlink/binding.gyp ]; then
  echo "build-native-netlink: $out is up to date"
  exit 0
fi

echo "build-native-netlink: building $out (node-gyp, headers from $nodedir)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! (cd native-netlink && "${gyp[@]}" rebuild --nodedir="$nodedir" --jobs=2) >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  warn "the addon failed to build (output above)"
fi
[ -f "$out" ] || warn "node-gyp succeeded but $out is missing"
if grep -q 'warning:' "$log"; then grep 'warning:' "$log" >&2; fi
echo "build-native-netlink: built $out"
