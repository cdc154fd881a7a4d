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
import { parseIpv4, parseIpv6 } from '../../net/ip.js';
import type { KernelNextHop, KernelRoute } from './kernel.js';
import { parsePrefixInto, prefixWords, type PrefixWords } from './netlink-codec.js';
import { familyOf } from '../family.js';

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

/** A route through the filter: the kernel route, or its canonical prefix and why there is none. */
export type FilterResult = KernelRoute | { prefix: string; skip: SkipReason };

interface PoolRule {
  net: PrefixWords;
  pool: Pool;
}

/** What the filter needs to know of one next hop; a node has few, and routes share what is built here. */
interface Gateway {
  /** An address of the filter's family. */
  valid: boolean;
  /** This node's own address. */
  own: boolean;
  /** Inside this node's network (IP-in-IP cross-subnet goes direct). */
  onNetwork: boolean;
  /** The next hop straight to it, and through the tunnel (built when first needed); shared, never changed. */
  direct: KernelNextHop[];
  tunneled: KernelNextHop[] | null;
}

function wordsOf(text: string): PrefixWords | undefined {
  const w = prefixWords();
  try {
    parsePrefixInto(text, w);
    return w;
  } catch {
    return undefined;
  }
}

/** True when prefix `inner` lies within (or equals) prefix `outer` (BIRD's `net ~ prefix`). */
function within(inner: PrefixWords, outer: PrefixWords): boolean {
  if (inner.family !== outer.family || inner.len < outer.len) return false;
  if (inner.family === 4) return outer.len === 0 || (inner.v4 ^ outer.v4) >>> (32 - outer.len) === 0;
  for (let w = 0, bits = outer.len; bits > 0; w++, bits -= 32) {
    const x = (inner.v6[w]! ^ outer.v6[w]!) >>> 0;
    if (bits >= 32 ? x !== 0 : x >>> (32 - bits) !== 0) return false;
  }
  return true;
}

/** Blocks that get a blackhole: every affine block except host-length ones (Calico skips /32 and /128 blocks). */
function blackholeBlocks(blocks: Block[], family: Family): string[] {
  const host = familyOf(family).maxPrefixLength;
  const out: string[] = [];
  for (const b of blocks) {
    const w = prefixWords();
    try {
      const text = parsePrefixInto(b.cidr, w);
      if (w.len !== host) out.push(text);
    } catch {
      // not a prefix: no blackhole
    }
  }
  return out;
}

/**
 * The kernel filter of one family, compiled from the model once, so that
 * a change of one best route is mapped without going over the table
 * (kernel-sync's incremental path); `calicoKernelRoutes` runs the whole
 * table through it. Prefixes are compared as numbers, and what the filter
 * decides per next hop is kept per next hop, so a learned route costs one
 * parse of its prefix and one route object.
 */
export class CalicoKernelFilter {
  private readonly rejects: PrefixWords[];
  private readonly network: PrefixWords | undefined;
  private readonly pools: PoolRule[];
  private readonly own: PrefixWords | undefined;
  private readonly gateways = new Map<string, Gateway>();
  /** Where the prefix at hand is parsed to. */
  private readonly net = prefixWords();
  /** This node's own routes (BIRD's static protocol), through the filter. */
  readonly local: CalicoKernelPlan = { routes: [], skipped: [] };
  /** Canonical prefix of each own route -> its kernel route, or null when the filter dropped it. */
  private readonly locals = new Map<string, KernelRoute | null>();

  constructor(
    readonly family: Family,
    f: FamilyConfig,
  ) {
    this.rejects = f.rejectCidrs.flatMap((c) => wordsOf(c) ?? []);
    this.network = f.network !== null ? wordsOf(f.network) : undefined;
    this.pools = f.pools.flatMap((pool) => {
      const net = wordsOf(pool.cidr);
      return net !== undefined && net.family === family ? [{ net, pool }] : [];
    });
    this.own = f.address !== null ? wordsOf(f.address) : undefined;

    // Blackholes for blocks and advertised service addresses, host routes to peers reachable through a next hop.
    const local: { text: string; via: string | null }[] = [];
    for (const cidr of [...blackholeBlocks(f.blocks, family), ...f.staticRoutes]) local.push({ text: cidr, via: null });
    for (const p of f.peers) {
      if (p.reachableBy === null || p.type === 'mesh') continue;
      local.push({ text: p.address, via: p.reachableBy });
    }
    for (const { text, via } of local) {
      let prefix: string;
      try {
        prefix = parsePrefixInto(text, this.net);
      } catch {
        continue;
      }
      if (this.net.family !== family || this.locals.has(prefix)) continue;
      let gateway: Gateway | null = null;
      if (via !== null) {
        gateway = this.gateway(via);
        if (!gateway.valid) continue;
      }
      const r = this.program(prefix, gateway);
      if ('skip' in r) this.local.skipped.push({ prefix: r.prefix, reason: r.skip });
      else this.local.routes.push(r);
      this.locals.set(prefix, 'skip' in r ? null : r);
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
    const net = this.net;
    let prefix: string;
    try {
      prefix = parsePrefixInto(b.prefix, net);
    } catch {
      return { prefix: b.prefix, skip: 'invalid' };
    }
    if (net.family !== this.family) return { prefix: b.prefix, skip: 'invalid' };
    if (this.locals.has(prefix)) return { prefix, skip: 'local-route' };
    // Next hops of the family, not this node, each once.
    let first: Gateway | null = null;
    let more: Gateway[] | null = null;
    for (const nh of b.nextHops) {
      const g = this.gateway(nh);
      if (!g.valid || g.own || g === first || (more !== null && more.includes(g))) continue;
      if (first === null) first = g;
      else (more ??= [first]).push(g);
    }
    if (first === null) return { prefix, skip: 'no-next-hop' };
    return this.program(prefix, more ?? first);
  }

  /** The filter proper, for the prefix just parsed into `this.net`; `via` null for a blackhole. */
  private program(prefix: string, via: Gateway | Gateway[] | null): FilterResult {
    const net = this.net;
    for (const r of this.rejects) if (within(net, r)) return { prefix, skip: 'reject-cidr' };
    let rule: PoolRule | undefined;
    for (const p of this.pools) {
      if (within(net, p.net)) {
        rule = p;
        break;
      }
    }
    const network = this.network;
    if (rule !== undefined && rule.pool.vxlanMode !== 'never' && (this.family === 6 || network !== undefined)) return { prefix, skip: 'vxlan-pool' };
    if (via === null) return { prefix, nextHops: [], blackhole: true };
    const tunnel = this.family === 4 && network !== undefined && rule !== undefined ? rule.pool.ipipInterface : '';
    const crossSubnet = rule !== undefined && rule.pool.ipipMode === 'cross-subnet';
    if (!Array.isArray(via)) return { prefix, nextHops: this.hops(via, tunnel, crossSubnet) };
    return { prefix, nextHops: via.map((g) => this.hops(g, tunnel, crossSubnet)[0]!) };
  }

  /** One next hop, direct or through `tunnel`, as a shared one-element list. */
  private hops(g: Gateway, tunnel: string, crossSubnet: boolean): KernelNextHop[] {
    if (tunnel === '' || (crossSubnet && g.onNetwork)) return g.direct;
    const t = g.tunneled;
    if (t !== null && t[0]!.ifname === tunnel) return t;
    g.tunneled = [{ gateway: g.direct[0]!.gateway, ifname: tunnel, onlink: true }];
    return g.tunneled;
  }

  private gateway(text: string): Gateway {
    let g = this.gateways.get(text);
    if (g !== undefined) return g;
    const a = prefixWords();
    a.family = this.family;
    a.len = familyOf(this.family).maxPrefixLength;
    let valid = false;
    if (this.family === 4) {
      const v = text.includes(':') ? undefined : parseIpv4(text);
      if (v !== undefined) {
        a.v4 = v;
        valid = true;
      }
    } else if (text.includes(':')) {
      const words = parseIpv6(text);
      if (words !== undefined) {
        a.v6.set(words);
        valid = true;
      }
    }
    const own = valid && this.own !== undefined && this.own.len === a.len && within(a, this.own);
    const onNetwork = valid && this.network !== undefined && within(a, this.network);
    g = { valid, own, onNetwork, direct: [{ gateway: text }], tunneled: null };
    if (this.gateways.size >= 65536) this.gateways.clear();
    this.gateways.set(text, g);
    return g;
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
    if ('skip' in r) skipped.push({ prefix: r.prefix, reason: r.skip });
    else routes.push(r);
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
