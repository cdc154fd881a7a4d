/**
 * What the kernel FIB takes and gives: routes, next hops, failures, options.
 * Shared by the facade (kernel.ts), the next-hop interning (next-hops.ts)
 * and the batch pipeline (netlink-batch.ts).
 */
import type { NetlinkAddon } from './netlink-socket.js';
import type { Family } from './netlink-codec.js';

/** One way to reach a prefix. */
export interface KernelNextHop {
  /** Gateway address, same family as the prefix. */
  gateway: string;
  /** Outgoing interface (`tunl0`); absent = the kernel picks it from the gateway. */
  ifname?: string;
  /** Take the gateway as on-link even if no address of `ifname` covers it (IP-in-IP). Needs `ifname`. */
  onlink?: boolean;
}

/** A route as the FIB installs it: a prefix with one next hop, several (ECMP), or a blackhole. */
export interface KernelRoute {
  prefix: string;
  nextHops: KernelNextHop[];
  blackhole?: true;
}

/** One of our routes as the kernel reports it. */
export interface DumpedRoute {
  prefix: string;
  family: Family;
  table: number;
  metric: number;
  blackhole: boolean;
  nextHops: { gateway?: string; ifindex: number; ifname?: string; onlink: boolean }[];
}

/**
 * Our protocol number in `rtm_protocol` (`ip route show proto 201`). Clear of
 * the kernel's and iproute2's names (<= 99), FRR's daemons (186-198),
 * BIRD (12) and Felix (80).
 */
export const RTPROT_CALICO_BGPD = 201;

/**
 * Our default metric. Not 0 (IPv4's default) nor 1024 (IPv6's): REPLACE and
 * EXCL act on the route of the same prefix and metric, so a metric of our own
 * keeps us off routes an operator or another agent added with the defaults.
 * 20 is what FRR uses for BGP routes.
 */
export const DEFAULT_METRIC = 20;

/** Why one route could not be installed or removed. */
export interface RouteFailure {
  prefix: string;
  op: 'install' | 'remove';
  /** errno name from the kernel (`EINVAL`, `ENETUNREACH`, `EEXIST` for a foreign route), `EIO`/`ETIMEDOUT` when the outcome is unknown, `EBADROUTE` for a route we refused to send. */
  code: string;
  message: string;
}

export interface SyncResult {
  installed: number;
  removed: number;
  unchanged: number;
  failed: RouteFailure[];
}

/** Thrown by `install()` and `remove()` (single routes); `sync()` reports failures instead. */
export class KernelRouteError extends Error {
  override readonly name = 'KernelRouteError';
  constructor(readonly failure: RouteFailure) {
    super(`${failure.op} ${failure.prefix}: ${failure.code}: ${failure.message}`);
  }
}

// ---------------------------------------------------------------------------
// Options

export interface KernelFibOptions {
  /** Network namespace file to program (`/run/netns/NAME`); default: this process's namespace. */
  netns?: string | null;
  /** rtm_protocol of our routes. */
  protocol?: number;
  /** Routing table (254 = main). */
  table?: number;
  /** Metric of our routes. */
  metric?: number;
  /** Requests per send; default from the socket's receive buffer (a reply to each must fit in it). */
  batchSize?: number;
  /** Bound on one netlink exchange, ms. */
  timeoutMs?: number;
  /** The addon, for tests; default: loaded from native-netlink/. */
  addon?: NetlinkAddon;
}

