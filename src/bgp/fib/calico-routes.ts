/**
 * Which routes go into the kernel, and how, the way a Calico node running
 * BIRD does it: the `static` protocol originates a blackhole per local block
 * (and per advertised service address) and the `kernel` protocol exports the
 * best routes through the `calico_kernel_programming` filter. Pure: the
 * model's family config and the speaker's best routes in, `KernelRoute`s out.
 *
 * The filter, in order (first match decides, as BIRD's `accept`/`reject` do):
 * 1. Inside a reject CIDR (service ranges): not programmed.
 *    > "Don't program static routes into kernel."
 * 2. IPv4, when this node's network is known, inside a pool (first pool in
 *    key order that contains the prefix):
 *    - VXLAN pool: not programmed. > "these are handled by Felix."
 *    - IP-in-IP `cross-subnet`: direct when the next hop is in this node's
 *      network, else through the pool's tunnel interface.
 *    - IP-in-IP `always`: through the tunnel interface.
 *    - IP-in-IP off: direct.
 *    "Through the tunnel" is what Calico's BIRD does with `krt_tunnel`:
 *    `via <next hop> dev tunl0 onlink` (the next hop is another node, not an
 *    address on tunl0's link).
 *    Without a known network Calico's template skips every pool rule, and so
 *    do we (and so does our BIRD renderer, src/confd/render.ts).
 * 3. IPv6: routes inside a VXLAN pool are not programmed (current Calico's
 *    `program_pools_to_kernel()`); there is no IPv6 IP-in-IP.
 * 4. Anything else: programmed as it is.
 *
 * Where we differ, on purpose: Calico decides cross-subnet on the route's
 * BGP next hop; with ECMP we decide per next hop. A next hop equal to this
 * node's own address is dropped (the kernel would refuse or loop it).
 */
import type { Block, Family, FamilyConfig, NodeBgpConfig, Pool } from '../../model/types.js';
import type { KernelNextHop, KernelRoute } from './kernel.js';
import { addressBytes, addressWithin, parsePrefix, prefixWithin, type ParsedPrefix } from './netlink-codec.js';

/** A best route from the Loc-RIB: its prefix and BGP next hops (several with multipath). */
export interface BestRoute {
  prefix: string;
  nextHops: string[];
}

/** Why a prefix is not in the output (for logs and `routes --json`'s `installed: false`). */
export type SkipReason = 'reject-cidr' | 'vxlan-pool' | 'no-next-hop' | 'local-route' | 'invalid';

export interface CalicoKernelPlan {
  routes: KernelRoute[];
  skipped: { prefix: string; reason: SkipReason }[];
}

interface PoolRule {
  net: ParsedPrefix;
  pool: Pool;
}

function tryPrefix(text: string): ParsedPrefix | undefined {
  try {
    return parsePrefix(text);
  } catch {
    return undefined;
  }
}

/** Blocks that get a blackhole: every affine block except host-length ones (Calico skips /32 and /128 blocks). */
function blackholeBlocks(blocks: Block[], family: Family): string[] {
  const host = family === 4 ? 32 : 128;
  return blocks.map((b) => tryPrefix(b.cidr)).filter((p): p is ParsedPrefix => p !== undefined && p.len !== host).map((p) => p.text);
}

/** A learned route through the filter: its canonical prefix, and the kernel route or why there is none. */
export type FilterResult = { prefix: string; route: KernelRoute } | { prefix: string; skip: SkipReason };

/**
 * The kernel filter of one family, compiled from the model once, so that
 * a change of one best route is mapped without going over the table
 * (kernel-sync's incremental path); `calicoKernelRoutes` runs the whole
 * table through it.
 */
export class CalicoKernelFilter {
  private readonly rejects: ParsedPrefix[];
  private readonly network: ParsedPrefix | undefined;
  private readonly pools: PoolRule[];
  private readonly own: Buffer | undefined;
  /** This node's own routes (BIRD's static protocol), through the filter. */
  readonly local: CalicoKernelPlan = { routes: [], skipped: [] };
  /** Canonical prefix of each own route -> its kernel route, or null when the filter dropped it. */
  private readonly locals = new Map<string, KernelRoute | null>();

  constructor(
    readonly family: Family,
    f: FamilyConfig,
  ) {
    this.rejects = f.rejectCidrs.map(tryPrefix).filter((p): p is ParsedPrefix => p !== undefined);
    this.network = f.network !== null ? tryPrefix(f.network) : undefined;
    this.pools = f.pools.flatMap((pool) => {
      const net = tryPrefix(pool.cidr);
      return net !== undefined && net.family === family ? [{ net, pool }] : [];
    });
    this.own = f.address !== null ? addressBytes(f.address) : undefined;

    // Blackholes for blocks and advertised service addresses, host routes to peers reachable through a next hop.
    const local: { net: ParsedPrefix; via: string[] | 'blackhole' }[] = [];
    for (const cidr of [...blackholeBlocks(f.blocks, family), ...f.staticRoutes]) {
      const net = tryPrefix(cidr);
      if (net !== undefined && net.family === family) local.push({ net, via: 'blackhole' });
    }
    for (const p of f.peers) {
      if (p.reachableBy === null || p.type === 'mesh') continue;
      const net = tryPrefix(p.address);
      if (net !== undefined && net.family === family && addressBytes(p.reachableBy)?.length === net.addr.length) local.push({ net, via: [p.reachableBy] });
    }
    for (const { net, via } of local) {
      if (this.locals.has(net.text)) continue;
      const r = this.program(net, via);
      if ('route' in r) this.local.routes.push(r.route);
      else this.local.skipped.push({ prefix: r.prefix, reason: r.skip });
      this.locals.set(net.text, 'route' in r ? r.route : null);
    }
  }

  /**
   * This node's own route for a canonical prefix: undefined when it has
   * none, null when it has one that the filter drops.
   */
  localRoute(prefix: string): KernelRoute | null | undefined {
    return this.locals.get(prefix);
  }

  /** A learned best route through the filter (a prefix of this node's own routes is theirs). */
  learned(b: BestRoute): FilterResult {
    const net = tryPrefix(b.prefix);
    if (net === undefined || net.family !== this.family) return { prefix: b.prefix, skip: 'invalid' };
    if (this.locals.has(net.text)) return { prefix: net.text, skip: 'local-route' };
    const hops: string[] = [];
    for (const nh of b.nextHops) {
      const bytes = addressBytes(nh);
      if (bytes === undefined || bytes.length !== net.addr.length) continue;
      if (this.own !== undefined && bytes.equals(this.own)) continue;
      if (!hops.includes(nh)) hops.push(nh);
    }
    if (hops.length === 0) return { prefix: net.text, skip: 'no-next-hop' };
    return this.program(net, hops);
  }

  /** The filter proper, for one route. */
  private program(net: ParsedPrefix, nextHops: string[] | 'blackhole'): FilterResult {
    const prefix = net.text;
    if (this.rejects.some((r) => prefixWithin(net, r))) return { prefix, skip: 'reject-cidr' };
    const rule = this.pools.find((p) => prefixWithin(net, p.net));
    const network = this.network;
    if (rule !== undefined && rule.pool.vxlanMode !== 'never' && (this.family === 6 || network !== undefined)) return { prefix, skip: 'vxlan-pool' };
    if (nextHops === 'blackhole') return { prefix, route: { prefix, nextHops: [], blackhole: true } };
    const tunnel = this.family === 4 && network !== undefined && rule !== undefined ? rule.pool.ipipInterface : '';
    const hops: KernelNextHop[] = nextHops.map((gateway) => {
      if (tunnel === '') return { gateway };
      const onSubnet = rule!.pool.ipipMode === 'cross-subnet' && addressWithin(addressBytes(gateway)!, network!);
      return onSubnet ? { gateway } : { gateway, ifname: tunnel, onlink: true };
    });
    return { prefix, route: { prefix, nextHops: hops } };
  }
}

/**
 * Kernel routes of one family: this node's blackholes and peer host routes
 * (they win over BGP routes for the same prefix, as BIRD's static
 * preference 200 beats BGP's 100), then the best BGP routes, each through
 * the filter above.
 */
export function calicoKernelRoutes(family: Family, f: FamilyConfig, best: Iterable<BestRoute>): CalicoKernelPlan {
  const filter = new CalicoKernelFilter(family, f);
  const routes = [...filter.local.routes];
  const skipped = [...filter.local.skipped];
  const seen = new Set<string>();
  for (const b of best) {
    const r = filter.learned(b);
    if (!('skip' in r && r.skip === 'invalid')) {
      if (seen.has(r.prefix)) {
        skipped.push({ prefix: r.prefix, reason: 'local-route' }); // the same prefix twice: the first one stands
        continue;
      }
      seen.add(r.prefix);
    }
    if ('route' in r) routes.push(r.route);
    else skipped.push({ prefix: r.prefix, reason: r.skip });
  }
  return { routes, skipped };
}

/** Both families of a node's model: IPv4 routes, then IPv6. Best routes of either family may be mixed. */
export function calicoKernelRoutesForNode(m: NodeBgpConfig, best: Iterable<BestRoute>): CalicoKernelPlan {
  const v4: BestRoute[] = [];
  const v6: BestRoute[] = [];
  for (const b of best) (b.prefix.includes(':') ? v6 : v4).push(b);
  const a = calicoKernelRoutes(4, m.ipv4, v4);
  const b = calicoKernelRoutes(6, m.ipv6, v6);
  return { routes: [...a.routes, ...b.routes], skipped: [...a.skipped, ...b.skipped] };
}
