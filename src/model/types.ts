/**
 * The peering model: everything one node needs to run BGP the way Calico's
 * BIRD templates would configure it, derived purely from the key view.
 * Both the confd renderer and the native speaker consume this, so they can
 * never disagree about who peers with whom.
 *
 * Plain data only (strings, numbers, booleans, arrays, null): JSON-serialisable
 * and stable in field order, so `JSON.stringify` doubles as a deep-equality
 * key and as the `calico-bgpd model --json` output.
 */

export type Family = 4 | 6;

/** Where a peering came from; also the prefix of its name. */
export type PeerType = 'mesh' | 'global' | 'node';

/**
 * What to do with the BGP next hop when exporting to this peer.
 * - `auto`: BIRD's default (self for eBGP, unchanged for iBGP).
 * - `keep`: `next hop keep` (Calico: keepOriginalNextHop towards an eBGP peer, or nextHopMode Keep).
 * - `self`: `next hop self` (Calico: nextHopMode Self).
 */
export type NextHopMode = 'auto' | 'keep' | 'self';

export interface Peer {
  /** BIRD protocol name as Calico spells it: `Mesh_10_192_0_3`, `Global_10_192_0_4_port_166`, `Node_ac13__57_port_50`. */
  name: string;
  type: PeerType;
  family: Family;
  /** Peer address, canonical text. */
  address: string;
  /** TCP port to connect to; null means the BGP default (179) and no `port` clause. */
  port: number | null;
  /** The peer's AS. */
  asNumber: number;
  /** Local address for the TCP connection (this node's address of the same family); null lets the kernel choose. */
  sourceAddress: string | null;
  /** Calico's mesh rule: wait for the peer to connect when its address sorts after ours (string order). */
  passive: boolean;
  /** This node reflects routes to this peer (`rr client`). */
  routeReflectorClient: boolean;
  /** With `routeReflectorClient`: the cluster id to use (`rr cluster id`), else null. */
  routeReflectorClusterId: string | null;
  /** TCP MD5 password, or null. Never logged. */
  password: string | null;
  nextHop: NextHopMode;
  /** Graceful-restart time in seconds (`graceful restart time N`), or null for BIRD's default. */
  gracefulRestartTime: number | null;
  /** TTL security (GTSM) hop count; 0 = off. */
  ttlSecurity: number;
  /** The peer address belongs to a Calico node. */
  calicoNode: boolean;
  /** `allow local as N`; 0 = off. */
  numAllowLocalAs: number;
  /** Next hop through which the peer is reachable (a static /32 or /128 route is needed), or null. */
  reachableBy: string | null;
  /**
   * Why this peering cannot be configured (a value BIRD or the kernel cannot
   * take, see validate.ts), or absent. Such a peer is listed (`model`,
   * `status`) but neither rendered nor started.
   */
  invalid?: string;
  /** The key-view key this peering was derived from (`/calico/bgp/v1/host/kube-node-1/ip_addr_v4`, `/calico/bgp/v1/global/peer_v4/10.0.0.1-179`). */
  sourceKey: string;
}

/** A peering that Calico's templates list but do not configure. */
export interface SkippedPeer {
  sourceKey: string;
  address: string;
  reason: 'self' | 'route-reflector';
}

export interface Pool {
  cidr: string;
  family: Family;
  /** IP-in-IP: `always`, `cross-subnet` or `never`. */
  ipipMode: 'always' | 'cross-subnet' | 'never';
  /** Tunnel interface for IP-in-IP (`tunl0`), "" when IP-in-IP is off. */
  ipipInterface: string;
  vxlanMode: 'always' | 'cross-subnet' | 'never';
  natOutgoing: boolean;
  disabled: boolean;
  /** Do not export routes from this pool to BGP peers. */
  disableBGPExport: boolean;
}

/**
 * An IPAM block affine to this node.
 * `state` is Calico's affinity state; "" means implicitly confirmed (older data).
 * `confirmed` is true for "" and `confirmed`: only those blocks are exported
 * as aggregates; all of them get a blackhole route.
 */
export interface Block {
  cidr: string;
  family: Family;
  state: '' | 'confirmed' | 'pending' | 'pendingDeletion';
  confirmed: boolean;
}

/** Communities attached to routes within one prefix (BGPConfiguration prefixAdvertisements). */
export interface PrefixCommunities {
  cidr: string;
  /** Standard `a:b` communities. */
  communities: string[];
  /** Large `a:b:c` communities. */
  largeCommunities: string[];
}

/** Per address family part of the model. */
export interface FamilyConfig {
  /** This node's BGP address in this family; null = the family is disabled on this node. */
  address: string | null;
  /** This node's subnet (`network_v4`/`network_v6`), used for IP-in-IP cross-subnet; null if unknown. */
  network: string | null;
  /** Peers in Calico's order: mesh (by node name), then global, then node-specific (each by key). */
  peers: Peer[];
  skipped: SkippedPeer[];
  pools: Pool[];
  /** This node's blocks, in key order. */
  blocks: Block[];
  /** Service routes to originate (blackhole + export), in key order. */
  staticRoutes: string[];
  /** Ranges never programmed into the kernel from BGP, in key order. */
  rejectCidrs: string[];
  /** Per-prefix communities (node-specific list if it exists, else global). */
  communities: PrefixCommunities[];
}

export interface NodeBgpConfig {
  nodeName: string;
  /** BGP router id (dotted quad); "" if none could be determined. */
  routerId: string;
  /** How the router id was chosen: node IPv4, `CALICO_ROUTER_ID` literal, or a hash of the node name. */
  routerIdSource: 'node-ipv4' | 'env' | 'hash' | 'none';
  /** Local AS: the node's own, else the global one (default 64512). */
  asNumber: number;
  /** BGP listen port (node-specific, else global); null = 179 and no `listen bgp port` clause. */
  listenPort: number | null;
  /** `NodeIP`: listen only on the node address; `None`: all addresses. */
  bindMode: 'None' | 'NodeIP';
  /** BIRD debug level from BGPConfiguration logSeverityScreen: `debug`, `info` or `none` (node, else global, else `info`). */
  logLevel: string;
  /** Node-to-node mesh setting (global; default true). */
  meshEnabled: boolean;
  /** This node's route-reflector cluster id; null = not a route reflector (and then the mesh applies). */
  routeReflectorClusterId: string | null;
  /** Interfaces the `direct` protocol ignores (BGPConfiguration ignoredInterfaces). */
  ignoredInterfaces: string[];
  ipv4: FamilyConfig;
  ipv6: FamilyConfig;
}

/** Environment inputs to the model (Calico's variables). */
export interface ModelEnv {
  /** CALICO_ROUTER_ID: a dotted quad, or `hash`. */
  routerId?: string;
}
