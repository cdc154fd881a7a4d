#!/usr/bin/env bash
# Unpacks Debian's bird2 package into a private prefix, so that BIRD 2 can be
# used to check configs next to the installed BIRD 1.6 (`bird` and `bird2`
# conflict as packages: both ship /usr/sbin/bird).
#
# Prefix: $BIRD2_PREFIX, else /var/cache/calico-bgpd-test/bird2 when that is
# writable (CI runs as root), else .cache/bird2 in the repository.
# The binary ends up at <prefix>/usr/sbin/bird. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${BIRD2_PREFIX:-}" ]; then
  prefix="$BIRD2_PREFIX"
elif mkdir -p /var/cache/calico-bgpd-test 2>/dev/null && [ -w /var/cache/calico-bgpd-test ]; then
  prefix=/var/cache/calico-bgpd-test/bird2
else
  prefix="$PWD/.cache/bird2"
fi

if [ -x "$prefix/usr/sbin/bird" ]; then
  echo "install-bird2: BIRD 2 already at $prefix/usr/sbin/bird"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! apt-get download bird2 >/dev/null 2>&1; then
  # The package lists may be missing on a fresh machine.
  if [ "$(id -u)" -eq 0 ]; then apt-get update -q >/dev/null; fi
  apt-get download bird2
fi
deb="$(ls bird2_*.deb | head -n 1)"
mkdir -p "$prefix.tmp"
dpkg -x "$deb" "$prefix.tmp"
rm -rf "$prefix"
mv "$prefix.tmp" "$prefix"
"$prefix/usr/sbin/bird" --version 2>&1 | sed 's/^/install-bird2: /'
echo "install-bird2: BIRD 2 at $prefix/usr/sbin/bird"
