/**
 * Next-hop interning for the kernel FIB: every route through the same next
 * hops (or a blackhole) of one family shares one `Via`, so "did this route
 * change" is a reference comparison and a request template is built once
 * per next-hop set. Interface names are resolved to indexes here, since a
 * template carries them.
 */
import type { NetlinkSocket } from './netlink-socket.js';
import {
  RTM_NEWROUTE,
  RTN_BLACKHOLE,
  RTN_UNICAST,
  RTNH_F_ONLINK,
  RT_SCOPE_UNIVERSE,
  RouteTemplate,
  canonicalAddress,
  encodeLinkRequest,
  linkRequestLength,
  type Family,
  type RouteMessage,
} from './netlink-codec.js';
import type { KernelNextHop, KernelRoute } from './kernel-routes.js';

/** Interned next-hop sets kept before the unused ones are dropped. */
const VIA_CACHE_MAX = 4096;

/**
 * The next hops of a route, or a blackhole, of one family, interned: every
 * route through the same next hops holds the same object, so "did this
 * route change" is a reference comparison, and its request template is
 * built once.
 */
export class Via {
  /** The install request for a route through these next hops, destination left out; built for interface generation `gen`. */
  template: RouteTemplate | null = null;
  gen = -1;
  /** An interface of ours that did not exist when looked up in operation `checkedIn` (the next operation looks again). */
  missing: string | null = null;
  checkedIn = -1;

  constructor(
    readonly family: Family,
    /** Canonical: gateway texts canonical, onlink only when true, sorted by gateway then interface; empty for a blackhole. */
    readonly hops: readonly KernelNextHop[],
    readonly blackhole: boolean,
  ) {}
}

/** A single next hop as callers write it, and its interned set. */
interface SingleHop {
  ifname: string | undefined;
  onlink: boolean;
  via: Via;
}

/** Canonical gateway texts: a node has few gateways and many routes through each. */
const gatewayCache = new Map<string, string | null>();

function canonicalGateway(text: string): string | undefined {
  let c = gatewayCache.get(text);
  if (c === undefined) {
    if (gatewayCache.size >= 65536) gatewayCache.clear();
    c = canonicalAddress(text) ?? null;
    gatewayCache.set(text, c);
  }
  return c ?? undefined;
}

function compareHops(a: KernelNextHop, b: KernelNextHop): number {
  if (a.gateway !== b.gateway) return a.gateway < b.gateway ? -1 : 1;
  const ai = a.ifname ?? '';
  const bi = b.ifname ?? '';
  return ai < bi ? -1 : ai > bi ? 1 : 0;
}

function hopText(nh: KernelNextHop): string {
  return `${nh.gateway}%${nh.ifname ?? ''}${nh.onlink ? '!' : ''}`;
}

/** Why a gateway cannot serve a route of `family`. */
export function notFamily(gateway: string, family: Family): string {
  return `gateway '${gateway}' is not an IPv${family} address`;
}

/** The interned next-hop sets of one FIB, and the interface indexes their templates use. */
export class NextHops {
  /** Interface indexes by name. */
  readonly ifindex = new Map<string, number>();
  /** Bumped when an interface index is forgotten: request templates are rebuilt. */
  gen = 0;
  /** Interned next-hop sets by canonical text. */
  private readonly vias = new Map<string, Via>();
  /** Single next hops by gateway text as given: the per-route lookup, no string built. */
  private readonly single = new Map<string, SingleHop[]>();
  /** Several next hops by their text as given. */
  private readonly multi = new Map<string, Via>();
  private readonly blackholes: Record<Family, Via> = { 4: new Via(4, [], true), 6: new Via(6, [], true) };

  constructor(
    private readonly sock: NetlinkSocket,
    private readonly route: { table: number; protocol: number; metric: number },
  ) {}

  /** The interned next hops of a route, or why it has none. */
  viaOf(r: KernelRoute, family: Family): Via | string {
    if (r.blackhole) return this.blackholes[family];
    const hops = r.nextHops;
    if (hops.length === 1) {
      const nh = hops[0]!;
      const list = this.single.get(nh.gateway);
      if (list !== undefined) {
        const onlink = nh.onlink === true;
        for (let i = 0; i < list.length; i++) {
          const e = list[i]!;
          if (e.ifname === nh.ifname && e.onlink === onlink) return e.via.family === family ? e.via : notFamily(nh.gateway, family);
        }
      }
      return this.singleSlow(nh, family);
    }
    if (hops.length === 0) return 'no next hop and not a blackhole';
    const key = hops.map(hopText).join(' ');
    const known = this.multi.get(key);
    if (known !== undefined) return known.family === family ? known : notFamily(hops.find((nh) => nh.gateway.includes(':') !== (family === 6))?.gateway ?? '', family);
    const canonical: KernelNextHop[] = [];
    for (const nh of hops) {
      const c = this.canonicalHop(nh, family);
      if (typeof c === 'string') return c;
      canonical.push(c);
    }
    canonical.sort(compareHops);
    const via = this.intern(family, canonical);
    this.multi.set(key, via);
    return via;
  }

  private singleSlow(nh: KernelNextHop, family: Family): Via | string {
    const c = this.canonicalHop(nh, family);
    if (typeof c === 'string') return c;
    const via = this.intern(family, [c]);
    const list = this.single.get(nh.gateway) ?? [];
    list.push({ ifname: nh.ifname, onlink: nh.onlink === true, via });
    this.single.set(nh.gateway, list);
    return via;
  }

  private canonicalHop(nh: KernelNextHop, family: Family): KernelNextHop | string {
    const gateway = canonicalGateway(nh.gateway);
    if (gateway === undefined || gateway.includes(':') !== (family === 6)) return notFamily(nh.gateway, family);
    const ifname = nh.ifname === '' ? undefined : nh.ifname;
    if (nh.onlink && ifname === undefined) return 'an on-link next hop needs an interface';
    const out: KernelNextHop = { gateway };
    if (ifname !== undefined) out.ifname = ifname;
    if (nh.onlink) out.onlink = true;
    return out;
  }

  private intern(family: Family, hops: KernelNextHop[]): Via {
    const key = hops.map(hopText).join(' ');
    let via = this.vias.get(key);
    if (via === undefined) {
      via = new Via(family, hops, false);
      this.vias.set(key, via);
    }
    return via;
  }

  /** Drops interned next-hop sets no installed route uses, when there are many (next hops come and go over a long run). */
  prune(inUse: Iterable<{ via: Via | null }>): void {
    if (this.vias.size < VIA_CACHE_MAX) return;
    const used = new Set<Via | null>();
    for (const slot of inUse) used.add(slot.via);
    for (const [key, via] of this.vias) if (!used.has(via)) this.vias.delete(key);
    this.single.clear();
    this.multi.clear();
  }

  /** Forgets the indexes of the interfaces of `vias` (one was re-created): their templates are rebuilt. */
  forgetInterfaces(vias: Iterable<Via>): void {
    for (const via of vias) for (const nh of via.hops) if (nh.ifname !== undefined) this.ifindex.delete(nh.ifname);
    this.gen++;
  }

  /** The install template of `via`, or null when one of its interfaces does not exist (`via.missing` says which). */
  async templateOf(via: Via, op: number): Promise<RouteTemplate | null> {
    if (via.gen === this.gen && (via.template !== null || via.checkedIn === op)) return via.template;
    const unknown = via.hops.flatMap((nh) => (nh.ifname !== undefined && !this.ifindex.has(nh.ifname) ? [nh.ifname] : []));
    if (unknown.length > 0) await this.resolveInterfaces(unknown);
    via.gen = this.gen;
    via.checkedIn = op;
    via.missing = via.hops.find((nh) => nh.ifname !== undefined && !this.ifindex.has(nh.ifname))?.ifname ?? null;
    via.template = via.missing === null ? RouteTemplate.of(this.message(via), RTM_NEWROUTE) : null;
    return via.template;
  }

  /** The route message of `via` (destination left to the template). */
  private message(via: Via): RouteMessage {
    const m: RouteMessage = { family: via.family, dstLen: 0, table: this.route.table, protocol: this.route.protocol, scope: RT_SCOPE_UNIVERSE, type: RTN_UNICAST, flags: 0, priority: this.route.metric };
    if (via.blackhole) {
      m.type = RTN_BLACKHOLE;
    } else if (via.hops.length === 1) {
      const nh = via.hops[0]!;
      m.gateway = nh.gateway;
      if (nh.ifname !== undefined) m.oif = this.ifindex.get(nh.ifname)!;
      if (nh.onlink) m.flags = RTNH_F_ONLINK;
    } else {
      m.multipath = via.hops.map((nh) => ({ gateway: nh.gateway, ifindex: nh.ifname !== undefined ? this.ifindex.get(nh.ifname)! : 0, flags: nh.onlink ? RTNH_F_ONLINK : 0, hops: 0 }));
    }
    return m;
  }

  /** Looks up the index of each named interface (one exchange); names the kernel does not know stay unknown. */
  private async resolveInterfaces(names: string[]): Promise<void> {
    const list = [...new Set(names)].filter((n) => Buffer.byteLength(n) < 16); // IFNAMSIZ; longer names cannot exist
    if (list.length === 0) return;
    const first = this.sock.nextSeq(list.length);
    const buf = Buffer.alloc(list.reduce((n, name) => n + linkRequestLength(name), 0));
    let at = 0;
    list.forEach((name, i) => {
      at = encodeLinkRequest(name, first + i, buf, at);
    });
    const replies = await this.sock.exchange(buf, first, first + list.length - 1);
    for (const r of replies) {
      if (r.kind === 'link') {
        const name = list[r.header.seq - first];
        if (name !== undefined) this.ifindex.set(name, r.index);
      }
    }
  }
}
