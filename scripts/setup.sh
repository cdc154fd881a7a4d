#!/usr/bin/env bash
# One-shot, idempotent set-up for building and testing calico-bgpd on a fresh
# Debian machine: npm dependencies, then the Debian packages the tests run
# for real (etcd, BIRD, GoBGP, FRR, ExaBGP, tshark, iproute2).
# Safe to run repeatedly: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# --runtime: only what `npm start` needs (npm dependencies and BIRD 1.6 for
# config checks), not the whole interop lab.
runtime_only=false
if [ "${1:-}" = "--runtime" ]; then runtime_only=true; fi

# --- npm dependencies -------------------------------------------------------
# Re-install when node_modules is absent or older than the lock file.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi

# --- Debian packages --------------------------------------------------------
missing=()
while read -r pkg; do
  case "$pkg" in ''|'#'*) continue ;; esac
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done < <(if $runtime_only; then echo bird; else cat scripts/debian-packages.txt; fi)

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]}" >&2
    echo "setup: run as root (or: sudo apt-get install -y ${missing[*]})" >&2
    exit 1
  fi
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q "${missing[@]}"
fi

# BIRD 2 conflicts with the bird (1.6) package, so it is unpacked into a
# private prefix for the bird2 flavor checks and interop tests.
if ! $runtime_only; then bash scripts/install-bird2.sh; fi

# kubectl >= 1.27 for the manifest tests and the local API server's kubectl
# tests (Debian's kubernetes-client is 1.20: see the script).
if ! $runtime_only; then bash scripts/install-kubectl.sh; fi

# Native addons: TCP-MD5/GTSM socket options and rtnetlink for kernel
# routes. Neither build can fail the set-up: without them the daemon runs,
# peers with a password or TTL security stay down, and no kernel routes are
# installed (each says so clearly in the log).
bash scripts/build-native.sh
if [ -f scripts/build-native-netlink.sh ]; then bash scripts/build-native-netlink.sh; fi

# The packaged daemons start themselves on install; the tests run their own
# instances with private configs, so stop the system-wide ones to free ports.
if ! $runtime_only && [ "$(id -u)" -eq 0 ]; then
  for svc in bird bird6 frr gobgpd exabgp etcd; do
    if pgrep -x "$svc" >/dev/null 2>&1 && command -v service >/dev/null 2>&1; then
      service "$svc" stop >/dev/null 2>&1 || true
    fi
  done
fi
