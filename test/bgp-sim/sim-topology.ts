/**
 * The simulated Calico cluster of `npm run sim`: addresses, blocks and the
 * datastore that describes it (pure functions, no I/O).
 *
 * Everything lives in one network namespace the harness creates, where the
 * whole of 127.0.0.0/8 is local on `lo`, so no address has to be added:
 *
 *   reflector j (0-based)  127.70.0.(j + 1)          node `rr-(j + 1)`, label route-reflector=true
 *   node i (0-based)       127.72.((i + 1) >> 8).((i + 1) & 255)   node `node-<i+1>`
 *   block b                10.0.0.0 + 64 b, a /26 of the pool 10.0.0.0/8
 *
 * With IPv6 (`--ipv6`), as a dual-stack Calico cluster: every node and
 * reflector also has an IPv6 address, added to the namespace's `lo`, and
 * runs separate IPv6 sessions between those addresses (Calico peers each
 * family over its own addresses: bird6 / BIRD 2's ipv6 channel):
 *
 *   reflector j            2001:db8:70::(j + 1)
 *   node i                 2001:db8:72::(i + 1)      its IPv6 next hop
 *   IPv6 block b           2001:db8:1:: + 64 b, a /122 of the pool 2001:db8:1::/96
 *
 * Node i owns blocks i*K .. i*K + K - 1 at the start (in each family); the churn phase takes
 * spare blocks from N*K on. Each node announces its blocks with its own
 * address as NEXT_HOP, as calico-node's BIRD does.
 *
 * The datastore is the topology Calico documents for dedicated route
 * reflectors: full mesh off, the reflector nodes carry a
 * routeReflectorClusterID and a label, and one BGPPeer peers every node
 * with the nodes that carry the label (so each reflector peers with every
 * node as an RR client, and with the other reflectors as plain iBGP).
 * `bindMode: NodeIP` makes each reflector listen on its own address only,
 * so R of them share the namespace's port 179.
 */

export const SIM_AS = 64512;
export const CLUSTER_ID = '244.0.0.1';
export const POOL_CIDR = '10.0.0.0/8';
const POOL_BASE = 0x0a000000;
/** Blocks in the pool: 2^(26 - 8). */
export const POOL_BLOCKS = 1 << 18;
export const BLOCK_LEN = 26;
/** The route in the namespace's main table that lets BIRD resolve the nodes' next hops. */
export const NODE_NET = '127.72.0.0/16';
const NODE_BASE = 0x7f480000;
export const MAX_NODES = 0xfffe;

export function intToIp(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** Reflector j's address (and router id). */
export function reflectorAddress(j: number): string {
  return `127.70.0.${j + 1}`;
}

export function reflectorName(j: number): string {
  return `rr-${j + 1}`;
}

/** Node i's address as a 32-bit integer (its session address, router id and next hop). */
export function nodeAddressInt(i: number): number {
  return (NODE_BASE + i + 1) >>> 0;
}

export function nodeAddress(i: number): string {
  return intToIp(nodeAddressInt(i));
}

export function nodeName(i: number): string {
  return `node-${String(i + 1).padStart(5, '0')}`;
}

/** Block b's network address as a 32-bit integer. */
export function blockInt(b: number): number {
  return (POOL_BASE + b * 64) >>> 0;
}

/** The block index of a /26 network address, or -1 outside the pool. */
export function blockIndex(addr: number): number {
  const off = (addr - POOL_BASE) >>> 0;
  return off < POOL_BLOCKS * 64 && (off & 63) === 0 ? off >>> 6 : -1;
}

// IPv6: the pool's and the nodes' addresses share their upper 96 bits, so a
// block and a node are each named by the low 32 bits.

export const POOL6_CIDR = '2001:db8:1::/96';
/** The upper 96 bits of every IPv6 block, as big-endian words. */
export const POOL6_HIGH: readonly number[] = [0x20010db8, 0x00010000, 0];
export const BLOCK6_LEN = 122;
/** The nodes' IPv6 range, routed to `lo` in the main table so BIRD can resolve their next hops. */
export const NODE6_NET = '2001:db8:72::/96';
export const NODE6_HIGH: readonly number[] = [0x20010db8, 0x00720000, 0];

export function reflectorAddress6(j: number): string {
  return `2001:db8:70::${(j + 1).toString(16)}`;
}

/** Node i's IPv6 address: NODE6_HIGH followed by this 32-bit value. */
export function nodeAddress6Low(i: number): number {
  return i + 1;
}

export function nodeAddress6(i: number): string {
  return `2001:db8:72::${(i + 1).toString(16)}`;
}

/** IPv6 block b's low 32 bits (the upper 96 are POOL6_HIGH). */
export function block6Low(b: number): number {
  return (b * 64) >>> 0;
}

export function block6Text(b: number): string {
  const low = block6Low(b);
  return `2001:db8:1::${(low >>> 16).toString(16)}:${(low & 0xffff).toString(16)}`;
}

/** The block index of a /122's low 32 bits, or -1 outside the pool. */
export function block6Index(low: number): number {
  return low < POOL_BLOCKS * 64 && (low & 63) === 0 ? low >>> 6 : -1;
}

export interface ClusterShape {
  /** Simulated nodes. */
  n: number;
  /** Reflectors. */
  r: number;
  /** Dual stack: IPv6 addresses, an IPv6 pool. */
  ipv6?: boolean;
}

/** The file datastore (multi-document YAML) for the cluster. */
export function clusterDatastore(shape: ClusterShape): string {
  const v6 = (addr: string): string => (shape.ipv6 === true ? `, ipv6Address: "${addr}/128"` : '');
  const docs = [
    `apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: { name: default }
spec: { asNumber: ${SIM_AS}, nodeToNodeMeshEnabled: false, bindMode: NodeIP, logSeverityScreen: Warning }`,
    `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: { name: default-ipv4-ippool }
spec: { cidr: ${POOL_CIDR}, blockSize: ${BLOCK_LEN}, ipipMode: Never, vxlanMode: Never, natOutgoing: true }`,
    ...(shape.ipv6 === true
      ? [`apiVersion: projectcalico.org/v3
kind: IPPool
metadata: { name: default-ipv6-ippool }
spec: { cidr: "${POOL6_CIDR}", blockSize: ${BLOCK6_LEN}, ipipMode: Never, vxlanMode: Never, natOutgoing: false }`]
      : []),
    `apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: { name: peer-with-route-reflectors }
spec: { nodeSelector: all(), peerSelector: route-reflector == 'true' }`,
  ];
  for (let j = 0; j < shape.r; j++) {
    docs.push(`apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: ${reflectorName(j)}, labels: { route-reflector: "true" } }
spec: { bgp: { ipv4Address: ${reflectorAddress(j)}/32${v6(reflectorAddress6(j))}, routeReflectorClusterID: ${CLUSTER_ID} } }`);
  }
  for (let i = 0; i < shape.n; i++) {
    docs.push(`apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: ${nodeName(i)} }
spec: { bgp: { ipv4Address: ${nodeAddress(i)}/32${v6(nodeAddress6(i))} } }`);
  }
  return `${docs.join('\n---\n')}\n`;
}
