#!/usr/bin/env bash
# Capture BGP wire vectors from real implementations (BIRD 1.6, GoBGP, FRR,
# ExaBGP, and BIRD 2 when unpacked privately) talking to each other, for the
# codec's tests (test/bgp/packet/vectors.test.ts; see test/vectors/README.md).
#
# Usage (as root):  sudo bash scripts/capture-vectors.sh [OUTDIR]
#                   (OUTDIR defaults to test/vectors)
#        CBV_ONLY="bird_gobgp frr_exabgp" sudo -E bash scripts/capture-vectors.sh
#                   (only the named sessions: see the session_* functions)
#
# For each session it builds two network namespaces (cbv-<tag>-a, cbv-<tag>-b)
# joined by a veth pair numbered from 192.0.2.0/24 and 2001:db8::/32, starts
# one daemon in each with a private config, runs tcpdump on the veth, drives
# the session through a scripted sequence (routes with many attributes, a
# route refresh, a withdrawal, End-of-RIB, NOTIFICATION/Cease at the end),
# then writes every TCP direction's reassembled byte stream to
# OUTDIR/<session>.<sender>.bin plus OUTDIR/<session>.<sender>.json
# (metadata derived from the two OPENs: 4-octet AS, ADD-PATH per direction).
#
# Everything it starts (namespaces, daemons, tcpdump) is removed by a trap,
# also on failure or Ctrl-C. Every wait loop is bounded.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${1:-$ROOT/test/vectors}"
# BIRD 2 conflicts with the bird (1.6) package; the bird2-frr session uses a
# private copy: cd /tmp && apt-get download bird2 && dpkg -x bird2_*.deb /opt/bird2
BIRD2="${BIRD2:-/opt/bird2}"
NETNS=()
PIDS=()

log() { printf 'capture: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (network namespaces, tcpdump)"
for tool in ip tcpdump tshark python3 bird bird6 birdc birdc6 gobgpd gobgp exabgp vtysh /usr/lib/frr/bgpd /usr/lib/frr/zebra; do
  command -v "$tool" >/dev/null 2>&1 || die "missing $tool"
done
LAB="$(mktemp -d /tmp/cbv-lab.XXXXXX)"

# ---------------------------------------------------------------------------
# Clean-up: kill only the processes we started (by pid), delete our netns.
# ---------------------------------------------------------------------------
cleanup() {
  local rc=$?
  set +e
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  sleep 0.5
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
  for ns in "${NETNS[@]}"; do
    # Daemons that forked away from their recorded pid still live in the ns.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
  if [ "$rc" -ne 0 ]; then
    cp -r /var/run/frr/cbv-* "$LAB/" 2>/dev/null
    log "failed; lab files kept in $LAB"
  else
    rm -rf "$LAB"
  fi
  rm -rf /var/run/frr/cbv-*
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for DESCRIPTION SECONDS COMMAND...: poll COMMAND every 0.5 s.
wait_for() {
  local what=$1 secs=$2; shift 2
  local i
  for ((i = 0; i < secs * 2; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  die "timed out after ${secs}s waiting for $what"
}

# ---------------------------------------------------------------------------
# Lab: link TAG V4A V4B V6A V6B -> namespaces cbv-TAG-a / cbv-TAG-b, veth
# "eth0" in each, addresses /30 and /64, DAD off so IPv6 is usable at once.
# ---------------------------------------------------------------------------
link() {
  local tag=$1 v4a=$2 v4b=$3 v6a=$4 v6b=$5
  local a="cbv-$tag-a" b="cbv-$tag-b"
  ip netns add "$a"; NETNS+=("$a")
  ip netns add "$b"; NETNS+=("$b")
  ip link add "cbv-$tag-va" type veth peer name "cbv-$tag-vb"
  ip link set "cbv-$tag-va" netns "$a" name eth0
  ip link set "cbv-$tag-vb" netns "$b" name eth0
  local ns addr4 addr6
  for ns in "$a" "$b"; do
    if [ "$ns" = "$a" ]; then addr4=$v4a; addr6=$v6a; else addr4=$v4b; addr6=$v6b; fi
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.eth0.accept_dad=0
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$addr4/30" dev eth0
    ip -n "$ns" -6 addr add "$addr6/64" dev eth0 nodad
    ip -n "$ns" link set eth0 up
  done
  wait_for "link-local address in $a" 10 sh -c "ip -n $a -6 addr show dev eth0 scope link | grep -q inet6"
  wait_for "link-local address in $b" 10 sh -c "ip -n $b -6 addr show dev eth0 scope link | grep -q inet6"
}

# capture_start TAG: tcpdump on side a's eth0, BGP only.
capture_start() {
  local tag=$1
  ip netns exec "cbv-$tag-a" tcpdump -i eth0 -s 0 -U -w "$LAB/$tag.pcap" 'tcp port 179' 2>"$LAB/$tag.tcpdump.log" &
  PIDS+=($!)
  eval "CAP_$tag=$!"
  wait_for "tcpdump in cbv-$tag-a" 10 grep -q 'listening on' "$LAB/$tag.tcpdump.log"
}

# capture_stop TAG: flush and stop tcpdump (bounded).
capture_stop() {
  local tag=$1 pid
  pid=$(eval "echo \$CAP_$tag")
  sleep 1
  kill -INT "$pid" 2>/dev/null || true
  local i
  for ((i = 0; i < 20; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------------------
# Daemon launchers (one instance per namespace, private sockets and logs).
# ---------------------------------------------------------------------------
bird_start() { # NS CONF (bird for IPv4, bird6 for IPv6 via BIN)
  local ns=$1 conf=$2 bin=${3:-bird}
  ip netns exec "$ns" "$bin" -c "$conf" -s "$LAB/$ns.ctl" -P "$LAB/$ns.pid" -f >"$LAB/$ns.out" 2>&1 &
  local pid=$!
  PIDS+=($pid)
  wait_for "$bin control socket in $ns" 15 test -S "$LAB/$ns.ctl"
  sleep 0.5
  kill -0 "$pid" 2>/dev/null || die "$bin in $ns exited: $(tail -3 "$LAB/$ns.out")"
}
birdc_() { local ns=$1; shift; birdc -s "$LAB/$ns.ctl" "$@"; }
bird_established() { birdc_ "$1" show protocols "$2" | grep -q Established; }

gobgp_start() { # NS CONF
  local ns=$1 conf=$2
  ip netns exec "$ns" gobgpd -f "$conf" -t toml --pprof-disable >"$LAB/$ns.gobgpd.log" 2>&1 &
  PIDS+=($!)
  wait_for "gobgpd API in $ns" 20 ip netns exec "$ns" gobgp global
}
gobgp_() { local ns=$1; shift; ip netns exec "$ns" gobgp "$@"; }
gobgp_established() { gobgp_ "$1" neighbor "$2" | grep -qi 'BGP state = *established'; }

frr_start() { # NS CONF
  local ns=$1 conf=$2
  mkdir -p "/var/run/frr/$ns"
  chown frr:frr "/var/run/frr/$ns" 2>/dev/null || true
  : >"$LAB/$ns.zebra.conf"
  # FRR drops to user frr: configs must be readable, pid/log files writable.
  chmod 755 "$LAB"; chmod 644 "$conf" "$LAB/$ns.zebra.conf"
  ip netns exec "$ns" /usr/lib/frr/zebra -N "$ns" -f "$LAB/$ns.zebra.conf" \
    --log "file:/var/run/frr/$ns/zebra.log" >/dev/null 2>&1 &
  PIDS+=($!)
  wait_for "zebra in $ns" 15 test -S "/var/run/frr/$ns/zserv.api"
  ip netns exec "$ns" /usr/lib/frr/bgpd -N "$ns" -f "$conf" -n \
    --log "file:/var/run/frr/$ns/bgpd.log" >/dev/null 2>&1 &
  PIDS+=($!)
  wait_for "bgpd vty in $ns" 15 test -S "/var/run/frr/$ns/bgpd.vty"
}
vtysh_() { local ns=$1; shift; vtysh -N "$ns" "$@"; }
frr_established() { vtysh_ "$1" -c "show bgp neighbors $2 json" | grep -q '"bgpState":"Established"'; }

exabgp_start() { # NS CONF
  local ns=$1 conf=$2
  : >"$LAB/$ns.cmds"
  ip netns exec "$ns" env exabgp.daemon.user=root exabgp.daemon.drop=false \
    exabgp.log.destination="$LAB/$ns.exabgp.log" exabgp.log.level=INFO \
    exabgp.api.cli=false exabgp.daemon.pid="$LAB/$ns.exabgp.pid" \
    exabgp "$conf" >"$LAB/$ns.exabgp.out" 2>&1 &
  EXABGP_PID=$!
  PIDS+=($!)
}
exabgp_cmd() { printf '%s\n' "$2" >>"$LAB/$1.cmds"; }

# ---------------------------------------------------------------------------
# Session 1: BIRD 1.6 (AS 4200000001, 4-octet) <-> GoBGP (AS 65002), eBGP,
# IPv4 unicast, graceful restart, route refresh both ways, withdrawal,
# BIRD ends with "disable" (Cease / administrative shutdown).
# ---------------------------------------------------------------------------
session_bird_gobgp() {
  local t=bg a=cbv-bg-a b=cbv-bg-b
  log "session bird-gobgp-ipv4"
  link $t 192.0.2.1 192.0.2.2 2001:db8:1::1 2001:db8:1::2
  cat >"$LAB/$a.conf" <<EOF
router id 192.0.2.1;
log "$LAB/$a.log" all;
protocol device { scan time 10; }
protocol static originate {
  route 203.0.113.0/24 blackhole;
  route 203.0.113.128/25 blackhole;
  route 198.51.100.0/27 blackhole;
  route 198.51.100.32/28 blackhole;
  route 198.51.100.48/29 blackhole;
  route 198.51.100.77/32 blackhole;
}
filter to_gobgp {
  if net = 203.0.113.0/24 then {
    bgp_community.add((65001,100)); bgp_community.add((65535,65281));
    bgp_med = 50;
  }
  if net = 203.0.113.128/25 then {
    bgp_large_community.add((4200000001,1,2)); bgp_large_community.add((4200000001,3,4));
    bgp_ext_community.add((rt,65001,10)); bgp_ext_community.add((ro,192.0.2.1,7));
    bgp_path.prepend(4200000001); bgp_path.prepend(4200000001);
  }
  if net = 198.51.100.77/32 then bgp_origin = ORIGIN_INCOMPLETE;
  accept;
}
protocol bgp gobgp {
  local 192.0.2.1 as 4200000001;
  neighbor 192.0.2.2 as 65002;
  hold time 90;
  graceful restart on;
  import all;
  export filter to_gobgp;
}
EOF
  cat >"$LAB/$b.toml" <<EOF
[global.config]
  as = 65002
  router-id = "192.0.2.2"
  local-address-list = ["192.0.2.2"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "192.0.2.1"
    peer-as = 4200000001
  [neighbors.transport.config]
    passive-mode = true
  [neighbors.timers.config]
    hold-time = 60
  [neighbors.graceful-restart.config]
    enabled = true
    restart-time = 120
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
EOF
  capture_start $t
  gobgp_start $b "$LAB/$b.toml"
  gobgp_ $b global rib add 198.51.100.128/25 origin igp med 20 community 65002:1,65002:2,no-export \
    large-community 65002:10:20 aspath 65100,65101 -a ipv4
  gobgp_ $b global rib add 198.51.100.192/26 origin egp aggregator 65002:192.0.2.2 -a ipv4
  gobgp_ $b global rib add 203.0.113.64/26 -a ipv4
  bird_start $a "$LAB/$a.conf"
  wait_for "bird-gobgp Established" 60 bird_established $a gobgp
  sleep 3
  gobgp_ $b global rib add 203.0.113.32/27 community 65002:3 -a ipv4
  sleep 1
  gobgp_ $b global rib del 203.0.113.64/26 -a ipv4
  sleep 1
  gobgp_ $b neighbor 192.0.2.1 softresetin   # ROUTE-REFRESH from GoBGP
  sleep 2
  birdc_ $a reload in gobgp >/dev/null        # ROUTE-REFRESH from BIRD
  sleep 2
  birdc_ $a disable gobgp >/dev/null          # NOTIFICATION Cease
  sleep 1
  capture_stop $t
  extract $t bird-gobgp "192.0.2.1=bird" "192.0.2.2=gobgp"
}

# ---------------------------------------------------------------------------
# Session 2: BIRD 1.6 "add paths on" (AS 65005) <-> FRR (AS 65006) with
# addpath-tx-all-paths: both directions carry path identifiers; BIRD sends
# two paths for 203.0.113.0/24 (two static protocols). FRR ends with
# "neighbor shutdown" plus a shutdown message.
# ---------------------------------------------------------------------------
session_bird_frr_addpath() {
  local t=bf a=cbv-bf-a b=cbv-bf-b
  log "session bird-frr-addpath-ipv4"
  link $t 192.0.2.5 192.0.2.6 2001:db8:2::1 2001:db8:2::2
  cat >"$LAB/$a.conf" <<EOF
router id 192.0.2.5;
log "$LAB/$a.log" all;
protocol device { scan time 10; }
protocol static path1 {
  route 203.0.113.0/24 blackhole;
  route 198.51.100.64/26 blackhole;
}
protocol static path2 {
  route 203.0.113.0/24 blackhole;
}
filter to_frr {
  if proto = "path1" then { bgp_med = 10; bgp_community.add((65005,1)); }
  if proto = "path2" then { bgp_med = 20; bgp_community.add((65005,2)); bgp_path.prepend(65005); }
  accept;
}
protocol bgp frr {
  local 192.0.2.5 as 65005;
  neighbor 192.0.2.6 as 65006;
  add paths on;
  import all;
  export filter to_frr;
}
EOF
  cat >"$LAB/$b.conf" <<EOF
frr defaults traditional
hostname $b
!
router bgp 65006
 bgp router-id 192.0.2.6
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor 192.0.2.5 remote-as 65005
 neighbor 192.0.2.5 passive
 neighbor 192.0.2.5 timers 10 30
 address-family ipv4 unicast
  network 198.51.100.160/27
  network 203.0.113.200/29
  neighbor 192.0.2.5 addpath-tx-all-paths
 exit-address-family
!
EOF
  capture_start $t
  frr_start $b "$LAB/$b.conf"
  bird_start $a "$LAB/$a.conf"
  wait_for "bird-frr Established" 60 frr_established $b 192.0.2.5
  sleep 4
  birdc_ $a disable path2 >/dev/null          # withdraw one of the two paths
  sleep 2
  vtysh_ $b -c 'clear bgp ipv4 unicast 192.0.2.5 soft in' >/dev/null   # ROUTE-REFRESH from FRR
  sleep 2
  vtysh_ $b -c 'configure terminal' -c 'router bgp 65006' \
    -c 'neighbor 192.0.2.5 shutdown message capture done' >/dev/null
  sleep 1
  capture_stop $t
  extract $t bird-frr-addpath "192.0.2.5=bird" "192.0.2.6=frr"
}

# ---------------------------------------------------------------------------
# Session 3: BIRD 1.6 bird6 (AS 65003) <-> GoBGP (AS 65004) over IPv6, IPv6
# unicast only; BIRD sends ~1000 routes with global + link-local next hop.
# ---------------------------------------------------------------------------
session_bird6_gobgp() {
  local t=b6 a=cbv-b6-a b=cbv-b6-b
  log "session bird6-gobgp-ipv6"
  link $t 192.0.2.9 192.0.2.10 2001:db8:3::1 2001:db8:3::2
  {
    echo "router id 192.0.2.9;"
    echo "log \"$LAB/$a.log\" all;"
    echo "protocol device { scan time 10; }"
    echo "protocol direct { interface \"eth0\"; }"
    echo "protocol static bulk {"
    local i
    for ((i = 0; i < 1000; i++)); do printf '  route 2001:db8:%x:%x::/64 unreachable;\n' $((0x100 + i / 256)) $((i % 256)); done
    echo "}"
    echo "protocol static special {"
    echo "  route 2001:db8:ffff::/48 unreachable;"
    echo "  route 2001:db8:fffe:100::/56 unreachable;"
    echo "}"
    echo "filter to_gobgp {"
    echo "  if proto = \"special\" then { bgp_community.add((65003,6)); bgp_large_community.add((65003,6,6)); bgp_med = 66; }"
    echo "  if source = RTS_DEVICE then reject;"
    echo "  accept;"
    echo "}"
    echo "protocol bgp gobgp {"
    echo "  local 2001:db8:3::1 as 65003;"
    echo "  neighbor 2001:db8:3::2 as 65004;"
    echo "  graceful restart on;"
    echo "  import all;"
    echo "  export filter to_gobgp;"
    echo "}"
  } >"$LAB/$a.conf"
  cat >"$LAB/$b.toml" <<EOF
[global.config]
  as = 65004
  router-id = "192.0.2.10"
  local-address-list = ["2001:db8:3::2"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "2001:db8:3::1"
    peer-as = 65003
  [neighbors.transport.config]
    passive-mode = true
  [neighbors.graceful-restart.config]
    enabled = true
    restart-time = 90
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
EOF
  capture_start $t
  gobgp_start $b "$LAB/$b.toml"
  gobgp_ $b global rib add 2001:db8:4000::/36 origin igp community 65004:1 med 5 aspath 65300 -a ipv6
  gobgp_ $b global rib add 2001:db8:4100:1:2::/80 large-community 65004:1:1 -a ipv6
  bird_start $a "$LAB/$a.conf" bird6
  wait_for "bird6-gobgp Established" 60 bird_established $a gobgp
  # 1002 routes from BIRD + 2 of its own.
  wait_for "gobgp to receive 1002 routes" 60 sh -c \
    "ip netns exec $b gobgp global rib summary -a ipv6 | grep -q 'Destination: 1004'"
  sleep 1
  birdc_ $a disable special >/dev/null        # MP_UNREACH_NLRI from BIRD
  gobgp_ $b global rib del 2001:db8:4100:1:2::/80 -a ipv6   # MP_UNREACH_NLRI from GoBGP
  sleep 2
  gobgp_ $b neighbor 2001:db8:3::1 disable   # NOTIFICATION Cease
  sleep 1
  capture_stop $t
  extract $t bird6-gobgp "2001:db8:3::1=bird6" "2001:db8:3::2=gobgp"
}

# ---------------------------------------------------------------------------
# Session 4: FRR (AS 65020) <-> ExaBGP (AS 65020), iBGP over IPv4 with IPv4
# and IPv6 unicast: LOCAL_PREF, ATOMIC_AGGREGATE, AGGREGATOR, ORIGINATOR_ID,
# CLUSTER_LIST, AS_SET, all community kinds, an unknown optional transitive
# attribute; ExaBGP sends ROUTE-REFRESH (FRR answers with enhanced route
# refresh BoRR/EoRR); FRR ends it with a Cease.
# ---------------------------------------------------------------------------
session_frr_exabgp() {
  local t=fe a=cbv-fe-a b=cbv-fe-b
  log "session frr-exabgp-ibgp"
  link $t 192.0.2.13 192.0.2.14 2001:db8:4::1 2001:db8:4::2
  cat >"$LAB/$a.conf" <<EOF
frr defaults traditional
hostname $a
!
router bgp 65020
 bgp router-id 192.0.2.13
 no bgp network import-check
 bgp graceful-restart
 neighbor 192.0.2.14 remote-as 65020
 neighbor 192.0.2.14 passive
 address-family ipv4 unicast
  network 198.51.100.0/25 route-map set-attrs
  network 203.0.113.96/27
 exit-address-family
 address-family ipv6 unicast
  network 2001:db8:a::/48 route-map set-attrs
  network 2001:db8:b:c::/64
  neighbor 192.0.2.14 activate
 exit-address-family
!
route-map set-attrs permit 10
 set local-preference 300
 set metric 42
 set community 65020:7 65020:8 no-export
 set large-community 65020:1:7
 set extcommunity rt 65020:700
!
EOF
  cat >"$LAB/$b.conf" <<EOF
process ctl {
  run /usr/bin/tail -n +1 -f $LAB/$b.cmds;
  encoder text;
}
neighbor 192.0.2.13 {
  router-id 192.0.2.14;
  local-address 192.0.2.14;
  local-as 65020;
  peer-as 65020;
  hold-time 90;
  family {
    ipv4 unicast;
    ipv6 unicast;
  }
  capability {
    route-refresh;
    graceful-restart 120;
  }
  api {
    processes [ ctl ];
  }
}
EOF
  capture_start $t
  frr_start $a "$LAB/$a.conf"
  exabgp_start $b "$LAB/$b.conf"
  wait_for "frr-exabgp Established" 60 frr_established $a 192.0.2.14
  sleep 2
  exabgp_cmd $b 'announce route 203.0.113.0/25 next-hop 192.0.2.14 origin igp local-preference 200 med 10 as-path [ 65100 65101 ( 65200 65201 ) ] community [ 65020:1 65020:2 ] extended-community [ target:65020:100 origin:192.0.2.14:5 ] large-community [ 65020:1:2 ] atomic-aggregate aggregator ( 65100:192.0.2.14 ) originator-id 192.0.2.99 cluster-list [ 192.0.2.98 192.0.2.97 ]'
  exabgp_cmd $b 'announce route 198.51.100.128/28 next-hop 192.0.2.14 origin incomplete local-preference 50 attribute [ 0xf0 0xc0 0x0102030405 ]'
  exabgp_cmd $b 'announce route 2001:db8:e::/48 next-hop 2001:db8:4::2 origin igp local-preference 150 as-path [ 65100 ] community [ 65020:6 ]'
  exabgp_cmd $b 'announce route 2001:db8:e:f::/64 next-hop 2001:db8:4::2 origin egp local-preference 150 med 3'
  sleep 3
  exabgp_cmd $b 'withdraw route 2001:db8:e:f::/64 next-hop 2001:db8:4::2'
  exabgp_cmd $b 'withdraw route 198.51.100.128/28 next-hop 192.0.2.14'
  sleep 2
  exabgp_cmd $b 'announce route-refresh ipv4 unicast'
  exabgp_cmd $b 'announce route-refresh ipv6 unicast'
  sleep 3
  # ExaBGP closes without a NOTIFICATION when stopped, so FRR ends it.
  vtysh_ $a -c 'configure terminal' -c 'router bgp 65020' -c 'neighbor 192.0.2.14 shutdown' >/dev/null
  sleep 1
  kill -TERM "$EXABGP_PID"
  sleep 1
  capture_stop $t
  extract $t frr-exabgp-ibgp "192.0.2.13=frr" "192.0.2.14=exabgp"
}

# ---------------------------------------------------------------------------
# Session 5: GoBGP (AS 65031) <-> FRR (AS 4200000030, 4-octet): one IPv4
# session and one IPv6 session (link-local + global next hop from FRR),
# graceful restart, FRR asks for a refresh; GoBGP withdraws one IPv6 route
# and ends both sessions with a Cease.
# ---------------------------------------------------------------------------
session_gobgp_frr() {
  local t=gf a=cbv-gf-a b=cbv-gf-b
  log "session gobgp-frr (ipv4 + ipv6)"
  link $t 192.0.2.17 192.0.2.18 2001:db8:5::1 2001:db8:5::2
  cat >"$LAB/$a.toml" <<EOF
[global.config]
  as = 65031
  router-id = "192.0.2.17"
  local-address-list = ["192.0.2.17", "2001:db8:5::1"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "192.0.2.18"
    peer-as = 4200000030
  [neighbors.transport.config]
    passive-mode = true
  [neighbors.graceful-restart.config]
    enabled = true
    restart-time = 60
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
[[neighbors]]
  [neighbors.config]
    neighbor-address = "2001:db8:5::2"
    peer-as = 4200000030
  [neighbors.transport.config]
    passive-mode = true
  [neighbors.graceful-restart.config]
    enabled = true
    restart-time = 60
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
EOF
  cat >"$LAB/$b.conf" <<EOF
frr defaults traditional
hostname $b
!
router bgp 4200000030
 bgp router-id 192.0.2.18
 no bgp ebgp-requires-policy
 no bgp network import-check
 bgp graceful-restart
 neighbor 192.0.2.17 remote-as 65031
 neighbor 2001:db8:5::1 remote-as 65031
 address-family ipv4 unicast
  network 198.51.100.224/27 route-map tag
  network 203.0.113.160/27
  no neighbor 2001:db8:5::1 activate
 exit-address-family
 address-family ipv6 unicast
  network 2001:db8:c::/48 route-map tag
  network 2001:db8:d:1::/64
  neighbor 2001:db8:5::1 activate
 exit-address-family
!
route-map tag permit 10
 set community 4200:30 65535:666
 set large-community 4200000030:0:1
 set as-path prepend 4200000030 64512
!
EOF
  capture_start $t
  gobgp_start $a "$LAB/$a.toml"
  gobgp_ $a global rib add 203.0.113.240/28 med 100 community 65031:1 -a ipv4
  gobgp_ $a global rib add 2001:db8:f00d::/48 community 65031:6 aspath 65400,65401 -a ipv6
  frr_start $b "$LAB/$b.conf"
  wait_for "gobgp-frr IPv4 Established" 60 gobgp_established $a 192.0.2.18
  wait_for "gobgp-frr IPv6 Established" 60 gobgp_established $a 2001:db8:5::2
  sleep 3
  vtysh_ $b -c 'clear bgp ipv4 unicast 192.0.2.17 soft in' >/dev/null
  vtysh_ $b -c 'clear bgp ipv6 unicast 2001:db8:5::1 soft in' >/dev/null
  sleep 2
  gobgp_ $a global rib del 2001:db8:f00d::/48 -a ipv6
  sleep 2
  gobgp_ $a neighbor 192.0.2.18 disable
  gobgp_ $a neighbor 2001:db8:5::2 disable
  sleep 1
  capture_stop $t
  extract $t gobgp-frr "192.0.2.17=gobgp" "192.0.2.18=frr" "2001:db8:5::1=gobgp" "2001:db8:5::2=frr"
}

# ---------------------------------------------------------------------------
# Session 6: ExaBGP (AS 65061) <-> GoBGP (AS 65062), eBGP over IPv4 with
# ADD-PATH send/receive for IPv4 and IPv6 unicast: ExaBGP announces two
# paths for one prefix in each family (IPv6 ones in MP_REACH_NLRI), then
# withdraws one of each; GoBGP sends two paths of its own for one prefix and
# ends the session with a Cease.
# ---------------------------------------------------------------------------
session_exabgp_gobgp_addpath() {
  local t=eg a=cbv-eg-a b=cbv-eg-b
  log "session exabgp-gobgp-addpath"
  link $t 192.0.2.21 192.0.2.22 2001:db8:6::1 2001:db8:6::2
  cat >"$LAB/$a.conf" <<EOF
process ctl {
  run /usr/bin/tail -n +1 -f $LAB/$a.cmds;
  encoder text;
}
neighbor 192.0.2.22 {
  router-id 192.0.2.21;
  local-address 192.0.2.21;
  local-as 65061;
  peer-as 65062;
  hold-time 30;
  family {
    ipv4 unicast;
    ipv6 unicast;
  }
  capability {
    add-path send/receive;
    route-refresh;
  }
  api {
    processes [ ctl ];
  }
}
EOF
  cat >"$LAB/$b.toml" <<EOF
[global.config]
  as = 65062
  router-id = "192.0.2.22"
  local-address-list = ["192.0.2.22"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "192.0.2.21"
    peer-as = 65061
  [neighbors.transport.config]
    passive-mode = true
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
    [neighbors.afi-safis.add-paths.config]
      receive = true
      send-max = 4
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
    [neighbors.afi-safis.add-paths.config]
      receive = true
      send-max = 4
EOF
  capture_start $t
  gobgp_start $b "$LAB/$b.toml"
  gobgp_ $b global rib add 198.51.100.96/27 community 65062:1 -a ipv4
  gobgp_ $b global rib add 198.51.100.96/27 identifier 7 med 70 -a ipv4
  exabgp_start $a "$LAB/$a.conf"
  wait_for "exabgp-gobgp Established" 60 gobgp_established $b 192.0.2.21
  sleep 2
  exabgp_cmd $a 'announce route 203.0.113.48/28 path-information 1 next-hop 192.0.2.21 med 1 community [ 65061:1 ]'
  exabgp_cmd $a 'announce route 203.0.113.48/28 path-information 2 next-hop 192.0.2.21 med 2 as-path [ 65070 ] community [ 65061:2 ]'
  exabgp_cmd $a 'announce route 2001:db8:60::/48 path-information 1 next-hop 2001:db8:6::1 med 1 large-community [ 65061:6:1 ]'
  exabgp_cmd $a 'announce route 2001:db8:60::/48 path-information 2 next-hop 2001:db8:6::1 med 2 large-community [ 65061:6:2 ]'
  exabgp_cmd $a 'announce route 2001:db8:61:8000::/49 path-information 3 next-hop 2001:db8:6::1'
  sleep 3
  exabgp_cmd $a 'withdraw route 203.0.113.48/28 path-information 2 next-hop 192.0.2.21'
  exabgp_cmd $a 'withdraw route 2001:db8:60::/48 path-information 1 next-hop 2001:db8:6::1'
  sleep 2
  exabgp_cmd $a 'announce route-refresh ipv4 unicast'
  sleep 2
  gobgp_ $b neighbor 192.0.2.21 disable     # NOTIFICATION Cease
  sleep 1
  kill -TERM "$EXABGP_PID"
  sleep 1
  capture_stop $t
  extract $t exabgp-gobgp-addpath "192.0.2.21=exabgp" "192.0.2.22=gobgp"
}

# ---------------------------------------------------------------------------
# Session 7 (optional, needs BIRD 2 unpacked privately, see the top):
# BIRD 2 (AS 65071) <-> FRR (AS 65072), eBGP over IPv6 with IPv4 and IPv6
# unicast on one session: IPv4 routes with an IPv6 next hop (RFC 8950
# extended next hop, IPv4 NLRI in MP_REACH_NLRI), BIRD 2 sends two paths for
# one IPv6 prefix with ADD-PATH, long-lived graceful restart, and ends with a
# Cease carrying an RFC 9003 shutdown message.
# ---------------------------------------------------------------------------
session_bird2_frr() {
  if [ ! -x "$BIRD2/usr/sbin/bird" ]; then
    log "skipping bird2-frr: no BIRD 2 in $BIRD2 (cd /tmp && apt-get download bird2 && dpkg -x bird2_*.deb $BIRD2)"
    return 0
  fi
  local t=b2 a=cbv-b2-a b=cbv-b2-b
  log "session bird2-frr-ipv6"
  link $t 192.0.2.25 192.0.2.26 2001:db8:7::1 2001:db8:7::2
  cat >"$LAB/$a.conf" <<EOF
router id 192.0.2.25;
log "$LAB/$a.log" all;
protocol device { scan time 10; }
protocol static s4 {
  ipv4;
  route 203.0.113.16/28 blackhole;
  route 198.51.100.200/30 blackhole;
}
protocol static s6a {
  ipv6;
  route 2001:db8:70::/48 blackhole;
  route 2001:db8:71::/64 blackhole;
}
protocol static s6b {
  ipv6;
  route 2001:db8:70::/48 blackhole;
}
protocol bgp frr {
  local 2001:db8:7::1 as 65071;
  neighbor 2001:db8:7::2 as 65072;
  graceful restart on;
  long lived graceful restart on;
  ipv4 {
    import all;
    export filter { bgp_community.add((65071,4)); accept; };
    extended next hop on;
  };
  ipv6 {
    import all;
    export filter {
      if proto = "s6b" then { bgp_path.prepend(65071); bgp_large_community.add((65071,2,2)); }
      accept;
    };
    add paths tx;
  };
}
EOF
  cat >"$LAB/$b.conf" <<EOF
frr defaults traditional
hostname $b
!
router bgp 65072
 bgp router-id 192.0.2.26
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor 2001:db8:7::1 remote-as 65071
 neighbor 2001:db8:7::1 passive
 neighbor 2001:db8:7::1 capability extended-nexthop
 address-family ipv4 unicast
  network 198.51.100.204/30
  neighbor 2001:db8:7::1 activate
 exit-address-family
 address-family ipv6 unicast
  network 2001:db8:72::/48
  neighbor 2001:db8:7::1 activate
 exit-address-family
!
EOF
  capture_start $t
  frr_start $b "$LAB/$b.conf"
  bird_start $a "$LAB/$a.conf" "$BIRD2/usr/sbin/bird"
  wait_for "bird2-frr Established" 60 frr_established $b 2001:db8:7::1
  sleep 4
  "$BIRD2/usr/sbin/birdc" -s "$LAB/$a.ctl" disable s6b >/dev/null   # withdraw one of two paths
  sleep 2
  vtysh_ $b -c 'clear bgp ipv6 unicast 2001:db8:7::1 soft in' >/dev/null
  sleep 2
  "$BIRD2/usr/sbin/birdc" -s "$LAB/$a.ctl" disable frr '"maintenance"' >/dev/null   # Cease + message
  sleep 1
  capture_stop $t
  extract $t bird2-frr "2001:db8:7::1=bird2" "2001:db8:7::2=frr"
}

# ---------------------------------------------------------------------------
# Session 8: ExaBGP (AS 65080, 4-octet AS capability disabled) <-> BIRD 1.6
# (AS 65081): a 2-octet AS session. Both sides send paths that hold 4-octet
# ASNs, so AS_PATH carries AS_TRANS (23456) and AS4_PATH the real ASNs
# (RFC 6793); ExaBGP also sends AGGREGATOR + AS4_AGGREGATOR.
# ---------------------------------------------------------------------------
session_exabgp_bird_2octet() {
  local t=e2 a=cbv-e2-a b=cbv-e2-b
  log "session exabgp-bird-2octet"
  link $t 192.0.2.29 192.0.2.30 2001:db8:8::1 2001:db8:8::2
  cat >"$LAB/$a.conf" <<EOF
router id 192.0.2.29;
log "$LAB/$a.log" all;
protocol device { scan time 10; }
protocol static originate {
  route 198.51.100.240/29 blackhole;
  route 203.0.113.224/28 blackhole;
}
filter to_exabgp {
  if net = 198.51.100.240/29 then { bgp_path.prepend(4200000081); bgp_path.prepend(65500); }
  bgp_community.add((65081,1));
  accept;
}
protocol bgp exabgp {
  local 192.0.2.29 as 65081;
  neighbor 192.0.2.30 as 65080;
  passive on;
  import all;
  export filter to_exabgp;
}
EOF
  cat >"$LAB/$b.conf" <<EOF
process ctl {
  run /usr/bin/tail -n +1 -f $LAB/$b.cmds;
  encoder text;
}
neighbor 192.0.2.29 {
  router-id 192.0.2.30;
  local-address 192.0.2.30;
  local-as 65080;
  peer-as 65081;
  hold-time 60;
  family {
    ipv4 unicast;
  }
  capability {
    asn4 disable;
    route-refresh;
  }
  api {
    processes [ ctl ];
  }
}
EOF
  capture_start $t
  bird_start $a "$LAB/$a.conf"
  exabgp_start $b "$LAB/$b.conf"
  wait_for "exabgp-bird Established" 60 bird_established $a exabgp
  sleep 2
  exabgp_cmd $b 'announce route 203.0.113.8/29 next-hop 192.0.2.30 as-path [ 65080 4200000001 64496 4200000002 ] community [ 65080:1 ]'
  exabgp_cmd $b 'announce route 198.51.100.8/29 next-hop 192.0.2.30 as-path [ 65080 64497 ( 4200000003 64498 ) ] atomic-aggregate aggregator ( 4200000004:192.0.2.30 )'
  exabgp_cmd $b 'announce route 198.51.100.16/29 next-hop 192.0.2.30 as-path [ 65080 64499 ]'
  sleep 3
  exabgp_cmd $b 'withdraw route 198.51.100.16/29 next-hop 192.0.2.30'
  sleep 1
  birdc_ $a disable exabgp >/dev/null          # NOTIFICATION Cease
  sleep 1
  kill -TERM "$EXABGP_PID"
  sleep 1
  capture_stop $t
  extract $t exabgp-bird-2octet "192.0.2.29=bird" "192.0.2.30=exabgp"
}

# ---------------------------------------------------------------------------
# Session 9: FRR (member AS 65101) <-> GoBGP (member AS 65102), both in
# confederation 65100: AS_PATH with AS_CONFED_SEQUENCE segments, LOCAL_PREF
# and MED kept across the confederation boundary.
# ---------------------------------------------------------------------------
session_frr_gobgp_confed() {
  local t=cf a=cbv-cf-a b=cbv-cf-b
  log "session frr-gobgp-confed"
  link $t 192.0.2.33 192.0.2.34 2001:db8:9::1 2001:db8:9::2
  cat >"$LAB/$a.conf" <<EOF
frr defaults traditional
hostname $a
!
router bgp 65101
 bgp router-id 192.0.2.33
 bgp confederation identifier 65100
 bgp confederation peers 65102
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor 192.0.2.34 remote-as 65102
 neighbor 192.0.2.34 passive
 address-family ipv4 unicast
  network 203.0.113.176/28 route-map confed-attrs
  network 198.51.100.184/29
 exit-address-family
!
route-map confed-attrs permit 10
 set local-preference 250
 set metric 25
 set as-path prepend 64999 64998
!
EOF
  cat >"$LAB/$b.toml" <<EOF
[global.config]
  as = 65102
  router-id = "192.0.2.34"
  local-address-list = ["192.0.2.34"]
[global.confederation.config]
  enabled = true
  identifier = 65100
  member-as-list = [65101]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "192.0.2.33"
    peer-as = 65101
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
EOF
  capture_start $t
  frr_start $a "$LAB/$a.conf"
  gobgp_start $b "$LAB/$b.toml"
  gobgp_ $b global rib add 198.51.100.248/30 aspath 64600 local-pref 120 -a ipv4
  wait_for "frr-gobgp confed Established" 60 frr_established $a 192.0.2.34
  sleep 3
  gobgp_ $b global rib del 198.51.100.248/30 -a ipv4
  sleep 2
  vtysh_ $a -c 'configure terminal' -c 'router bgp 65101' -c 'neighbor 192.0.2.34 shutdown' >/dev/null
  sleep 1
  capture_stop $t
  extract $t frr-gobgp-confed "192.0.2.33=frr" "192.0.2.34=gobgp"
}

# ---------------------------------------------------------------------------
# extract TAG SESSION ADDR=NAME...: one .bin + .json per TCP direction.
# ---------------------------------------------------------------------------
extract() {
  local tag=$1 session=$2; shift 2
  python3 "$LAB/extract.py" "$LAB/$tag.pcap" "$OUT" "$session" "$@"
}

cat >"$LAB/extract.py" <<'PY'
# Splits a capture into per-direction BGP byte streams using tshark's TCP
# reassembly ("follow,tcp,raw"), and writes metadata derived from the OPENs.
import json, subprocess, sys, ipaddress

pcap, out, session, *names = sys.argv[1:]
impl = {}
for n in names:
    addr, name = n.rsplit('=', 1)
    impl[ipaddress.ip_address(addr).compressed] = name

versions = {
    'bird': 'BIRD 1.6.8 (bird)', 'bird6': 'BIRD 1.6.8 (bird6)', 'bird2': 'BIRD 2.0.12',
    'gobgp': 'GoBGP 3.10.0', 'frr': 'FRR 8.4.4', 'exabgp': 'ExaBGP 4.2.21',
}

def tshark(*args):
    return subprocess.run(['tshark', '-r', pcap, *args], check=True,
                          capture_output=True, text=True).stdout

streams = sorted({int(s) for s in tshark('-T', 'fields', '-e', 'tcp.stream').split()})

def messages(data):
    i = 0
    while i + 19 <= len(data):
        length = int.from_bytes(data[i + 16:i + 18], 'big')
        yield data[i:i + length]
        i += length

def open_caps(data):
    for m in messages(data):
        if m[18] != 1:
            continue
        caps = {}
        opt_len = m[28]
        p, end = 29, 29 + opt_len
        while p < end:
            ptype, plen = m[p], m[p + 1]
            if ptype == 2:
                q = p + 2
                while q < p + 2 + plen:
                    code, clen = m[q], m[q + 1]
                    caps.setdefault(code, []).append(m[q + 2:q + 2 + clen])
                    q += 2 + clen
            p += 2 + plen
        return caps
    return None

def addpath(caps, flag):
    res = set()
    for v in caps.get(69, []):
        for k in range(0, len(v), 4):
            afi, safi, sr = int.from_bytes(v[k:k + 2], 'big'), v[k + 2], v[k + 3]
            if sr & flag:
                res.add(f'{afi}/{safi}')
    return res

seen_pairs = set()
for s in streams:
    text = tshark('-q', '-z', f'follow,tcp,raw,{s}')
    nodes, data = {}, {0: bytearray(), 1: bytearray()}
    for line in text.splitlines():
        if line.startswith('Node 0: ') or line.startswith('Node 1: '):
            hostport = line[8:]
            host = hostport.rsplit(':', 1)[0].strip('[]')
            nodes[int(line[5])] = ipaddress.ip_address(host).compressed
        elif line.startswith('=') or line.startswith('Follow:') or line.startswith('Filter:') or not line.strip():
            continue
        elif line.startswith('\t'):
            data[1] += bytes.fromhex(line.strip())
        else:
            data[0] += bytes.fromhex(line.strip())
    pair = frozenset(nodes.values())
    if pair in seen_pairs:
        # A peer that reconnects after the scripted end: not part of the vector.
        print(f'capture: skipping later TCP stream {s} between the same peers', file=sys.stderr)
        continue
    seen_pairs.add(pair)
    caps = {k: open_caps(bytes(v)) for k, v in data.items()}
    family = 'ipv6' if ':' in nodes[0] else 'ipv4'
    for k in (0, 1):
        if not data[k]:
            continue
        sender, receiver = impl[nodes[k]], impl[nodes[1 - k]]
        mine, theirs = caps[k] or {}, caps[1 - k] or {}
        base = f'{session}-{family}'
        name = f'{base}.{sender}'
        meta = {
            'session': base,
            'sender': versions.get(sender, sender),
            'receiver': versions.get(receiver, receiver),
            'senderAddress': nodes[k],
            'receiverAddress': nodes[1 - k],
            'transport': family,
            'fourOctetAs': 65 in mine and 65 in theirs,
            'addPath': sorted(addpath(mine, 2) & addpath(theirs, 1)),
            'bytes': len(data[k]),
            'messages': sum(1 for _ in messages(bytes(data[k]))),
        }
        with open(f'{out}/{name}.bin', 'wb') as f:
            f.write(data[k])
        with open(f'{out}/{name}.json', 'w') as f:
            json.dump(meta, f, indent=2)
            f.write('\n')
        print(f'capture: wrote {name}.bin ({len(data[k])} bytes, {meta["messages"]} messages)', file=sys.stderr)
PY

mkdir -p "$OUT"
ONLY="${CBV_ONLY:-bird_gobgp bird_frr_addpath bird6_gobgp frr_exabgp gobgp_frr exabgp_gobgp_addpath exabgp_bird_2octet frr_gobgp_confed bird2_frr}"
for s in $ONLY; do "session_$s"; done
log "done; vectors in $OUT"
