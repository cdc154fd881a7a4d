/**
 * What the BIRD-compatible socket shows, as plain data: one daemon's status
 * and its BGP protocols. Built from the speaker by `speaker-view.ts`, turned
 * into BIRD 1.6 text by `format.ts`, so the formatting is testable without a
 * speaker or a socket.
 */

/** BIRD's BGP states as `show protocols` names them (`bgp_state_dsc`). */
export type BirdBgpState = 'Idle' | 'Connect' | 'Active' | 'Passive' | 'OpenSent' | 'OpenConfirm' | 'Established' | 'Close';

/** Facts of an Established session (`show protocols all`). */
export interface BirdSessionView {
  neighborId: string;
  /** The peer's capabilities, BIRD's words: `refresh`, `restart-able`, `AS4`, `add-path-rx`, ... */
  neighborCaps: string[];
  /** Session properties, BIRD's words: `internal`/`external`, `route-reflector`, `AS4`, ... */
  session: string[];
  sourceAddress: string;
  holdTime: number;
  keepaliveTime: number;
}

/** One `protocol bgp` as BIRD would show it. */
export interface BirdProtocolView {
  /** Calico's protocol name: `Mesh_192_0_2_2`, `Node_...`, `Global_...`. */
  name: string;
  /** BIRD's protocol state: `up` when Established, `start` while trying. */
  state: 'up' | 'start' | 'down';
  since: Date;
  bgpState: BirdBgpState;
  /** BIRD's last-error text (`Socket: Connection refused`, `Received: Hold timer expired`), or ''. */
  lastError: string;
  neighborAddress: string;
  neighborAs: number;
  /** Routes accepted from the peer, routes advertised to it, and how many of the accepted are best. */
  imported: number;
  exported: number;
  preferred: number;
  /** Routes the peer sent (BIRD's "Import updates: received"). */
  received: number;
  session: BirdSessionView | null;
}

/** Graceful-restart recovery as BIRD's `show status` reports it (reply 0024). */
export interface BirdGracefulRestartView {
  /** Protocols not yet recovered. */
  waiting: number;
  /** Seconds left of the wait, and the wait. */
  remaining: number;
  wait: number;
}

/**
 * What a command needs: `routes` walks the whole table (route counts, the
 * preferred count per protocol), which `show status` and the probes'
 * `show protocols` do not need.
 */
export type ViewDetail = 'peers' | 'routes';

/** One BIRD daemon: calico-node runs one for IPv4 (bird.ctl) and one for IPv6 (bird6.ctl). */
export interface BirdDaemonView {
  version: string;
  routerId: string;
  now: Date;
  bootedAt: Date;
  reconfiguredAt: Date;
  gracefulRestart: BirdGracefulRestartView | null;
  protocols: BirdProtocolView[];
  /** The routing table of this family: paths and destinations (`show route count`); zeros unless asked for with 'routes'. */
  routes: { paths: number; networks: number };
}
