#!/usr/bin/env bash
# Builds the TCP-MD5 / GTSM addon (native/). Without it, peers that need a
# password or ttlSecurity stay down with a clear error; everything else runs.
# CALICO_BGPD_NATIVE_STRICT=1 makes a failed build fatal.
exec bash "$(dirname "$0")/build-addon.sh" build-native native native/build/Release/bgp_sockopt.node native/src/sockopt.c \
  "TCP-MD5 passwords and GTSM (ttlSecurity) are DISABLED; sessions that need them will stay down." CALICO_BGPD_NATIVE_STRICT
