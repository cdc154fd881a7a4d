#!/usr/bin/env bash
# Builds the rtnetlink addon (native-netlink/). Without it the speaker runs
# without installing kernel routes (one clear error at start).
# CALICO_BGPD_NETLINK_STRICT=1 makes a failed build fatal.
exec bash "$(dirname "$0")/build-addon.sh" build-native-netlink native-netlink native-netlink/build/Release/netlink.node native-netlink/src/netlink.c \
  "kernel route programming is DISABLED; the speaker will run without installing routes." CALICO_BGPD_NETLINK_STRICT
