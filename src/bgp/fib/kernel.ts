/**
 * The kernel FIB: best routes into a Linux routing table over rtnetlink,
 * one socket, many routes per send, no process per route.
 *
 * Rules (holo's netlink.rs, BIRD's krt, Calico's `persist`):
 * - Idempotent. Install is NLM_F_CREATE|NLM_F_REPLACE, so installing the
 *   same route twice, or over our own stale route, is a no-op or an update.
 *   Delete treats "no such route" (ESRCH, ENOENT) as done.
 * - Ours only. Every route carries our `rtm_protocol` and metric, deletes
 *   name both, and dumps ignore everything else. A prefix we do not know as
 *   ours is first added with NLM_F_EXCL: if another protocol holds the
 *   prefix at our metric, the kernel says EEXIST and we leave its route
 *   alone (a plain REPLACE would overwrite whatever route comes first).
 * - Restart friendly. `open()` notes our routes left by a previous run
 *   (stale); they keep forwarding while graceful restart runs. Once the
 *   speaker has re-learned its routes and called `sync()`, `purgeStale()`
 *   removes the rest. `close()` keeps routes by default (BIRD's `persist`).
 *
 * Every batch asks for an ACK per message and matches replies by sequence
 * number; one failed route never fails the others.
 */
import { NetlinkIoError, NetlinkRawError, NetlinkSocket, loadNetlinkAddon, type NetlinkAddon } from './netlink-socket.js';
import {
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  NLM_F_REQUEST,
  RTM_DELROUTE,
  RTM_NEWROUTE,
  RTN_BLACKHOLE,
  RTN_UNICAST,
  RTNH_F_ONLINK,
  RT_SCOPE_NOWHERE,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
  canonicalAddress,
  encodeLinkRequest,
  encodeRoute,
  encodeRouteDump,
  errnoName,
  linkRequestLength,
  routeMessageLength,
  NetlinkDecodeError,
  scanAcks,
  type AckScan,
  type Family,
  parsePrefixLite,
  type PrefixText,
  type RouteMessage,
} from './netlink-codec.js';

// ---------------------------------------------------------------------------
// Routes

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

/** Canonical form: prefix masked, next hops sorted, defaults dropped; equal routes give equal keys. */
export function normaliseRoute(route: KernelRoute): KernelRoute {
  return prepare(route).route;
}

/** A normalised route with its parsed prefix and its comparison key. */
interface Prepared {
  route: KernelRoute;
  net: PrefixText;
  key: string;
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

function prepare(route: KernelRoute): Prepared {
  const net = parsePrefixLite(route.prefix);
  const prefix = net.text;
  if (route.blackhole) return { route: prefix === route.prefix && route.nextHops.length === 0 ? route : { prefix, nextHops: [], blackhole: true }, net, key: `${prefix} blackhole` };
  const hops = route.nextHops;
  if (hops.length === 0) throw new RangeError(`${prefix}: no next hop and not a blackhole`);
  // Already canonical (the usual case: calico-routes.ts output)? Then use the caller's objects as they are.
  let canonical = prefix === route.prefix;
  let key = prefix;
  for (let i = 0; i < hops.length; i++) {
    const nh = hops[i]!;
    const gateway = canonicalGateway(nh.gateway);
    if (gateway === undefined || gateway.includes(':') !== (net.family === 6)) throw new RangeError(`${prefix}: gateway '${nh.gateway}' is not an IPv${net.family} address`);
    if (nh.onlink && nh.ifname === undefined) throw new RangeError(`${prefix}: an on-link next hop needs an interface`);
    if (gateway !== nh.gateway || nh.onlink === false || (i > 0 && compareHops(hops[i - 1]!, nh) >= 0)) canonical = false;
    key += ` ${gateway}%${nh.ifname ?? ''}${nh.onlink ? '!' : ''}`;
  }
  if (canonical) return { route, net, key };
  const nextHops = hops.map((nh) => {
    const out: KernelNextHop = { gateway: canonicalGateway(nh.gateway)! };
    if (nh.ifname !== undefined) out.ifname = nh.ifname;
    if (nh.onlink) out.onlink = true;
    return out;
  });
  nextHops.sort(compareHops);
  key = prefix;
  for (const nh of nextHops) key += ` ${nh.gateway}%${nh.ifname ?? ''}${nh.onlink ? '!' : ''}`;
  return { route: { prefix, nextHops }, net, key };
}

function compareHops(a: KernelNextHop, b: KernelNextHop): number {
  if (a.gateway !== b.gateway) return a.gateway < b.gateway ? -1 : 1;
  const ai = a.ifname ?? '';
  const bi = b.ifname ?? '';
  return ai < bi ? -1 : ai > bi ? 1 : 0;
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
  /** Messages per send; default from the socket's receive buffer (every ACK of a batch must fit in it). */
  batchSize?: number;
  /** Bound on one netlink exchange, ms. */
  timeoutMs?: number;
  /** The addon, for tests; default: loaded from native-netlink/. */
  addon?: NetlinkAddon;
}

/** Receive-buffer octets we budget per ACK (an skb's true size, with room to spare). */
const ACK_BUDGET = 2048;
const MAX_BATCH = 2048;
/** Batches handed to the addon before we wait for the oldest: enough to keep the kernel busy while we encode. */
const IN_FLIGHT = 2;

// ---------------------------------------------------------------------------
// Operations inside one batch

interface InstallOp {
  op: 'install';
  route: KernelRoute;
  net: PrefixText;
  key: string;
  /** Use NLM_F_EXCL: the prefix is not known to be ours. */
  exclusive: boolean;
}
interface RemoveOp {
  op: 'remove';
  prefix: string;
  net: PrefixText;
  /** The metric to delete at (a stale route may carry another one). */
  metric: number;
}
type Op = InstallOp | RemoveOp;

/** A failed operation: errno name (or EBADROUTE, EIO...) and text. */
interface Outcome {
  op: Op;
  code: string;
  message: string;
}

interface Applied {
  done: Op[];
  failed: Outcome[];
}

// ---------------------------------------------------------------------------
// The FIB

export class KernelFib {
  /**
   * What we installed in this run: canonical prefix -> the route's key.
   * Only two strings per route, so a table of 100,000 routes costs the
   * garbage collector little.
   */
  private readonly installed = new Map<string, string>();
  /** Prefixes of ours found at open (previous run) and not yet purged: installs over them use REPLACE. */
  private readonly stale = new Set<string>();
  private readonly ifindex = new Map<string, number>();
  /** Where the last `sync()` spent its time: checking and diffing the routes, then the netlink batches. */
  lastSyncTimings = { prepareMs: 0, applyMs: 0 };
  /** Public operations run one at a time: each diffs against what the previous one left. */
  private busy: Promise<unknown> = Promise.resolve();
  readonly protocol: number;
  readonly table: number;
  readonly metric: number;
  readonly batchSize: number;

  private constructor(
    private readonly sock: NetlinkSocket,
    opts: KernelFibOptions,
  ) {
    this.protocol = opts.protocol ?? RTPROT_CALICO_BGPD;
    this.table = opts.table ?? RT_TABLE_MAIN;
    this.metric = opts.metric ?? DEFAULT_METRIC;
    this.batchSize = Math.max(1, opts.batchSize ?? Math.min(MAX_BATCH, Math.max(16, Math.floor(sock.rcvbuf / ACK_BUDGET))));
  }

  /**
   * Opens the socket and notes our routes already in the table (left by a
   * previous run). Throws when the addon is missing or the socket cannot be
   * opened; `openKernelFib()` in fallback.ts turns that into "disabled".
   */
  static async open(opts: KernelFibOptions = {}): Promise<KernelFib> {
    let addon = opts.addon;
    if (addon === undefined) {
      const s = loadNetlinkAddon();
      if (!s.ok) throw new Error(s.reason);
      addon = s.addon;
    }
    const sock = NetlinkSocket.open(addon, { netns: opts.netns ?? null, timeoutMs: opts.timeoutMs ?? 30_000 });
    const fib = new KernelFib(sock, opts);
    try {
      for (const r of await fib.dump()) fib.stale.add(r.prefix);
    } catch (e) {
      await sock.close();
      throw e;
    }
    return fib;
  }

  /** Prefixes of ours found at open that neither `sync()` nor `purgeStale()` has dealt with yet. */
  staleCount(): number {
    return this.stale.size;
  }

  /** Prefixes this run installed (and has not removed). */
  installedPrefixes(): string[] {
    return [...this.installed.keys()];
  }

  /**
   * Makes the table hold exactly `desired` (among the routes this run
   * installed): installs new and changed routes, removes the ones that went.
   * Routes left by a previous run are only replaced when desired again; the
   * rest wait for `purgeStale()`.
   */
  sync(desired: Iterable<KernelRoute>): Promise<SyncResult> {
    const routes = [...desired]; // the caller may change its collection while we wait our turn
    return this.serial(() => this.syncNow(routes));
  }

  private async syncNow(desired: KernelRoute[]): Promise<SyncResult> {
    const t0 = performance.now();
    const want = new Map<string, Prepared>();
    const failed: RouteFailure[] = [];
    for (const r of desired) {
      try {
        const p = prepare(r);
        want.set(p.route.prefix, p);
      } catch (e) {
        failed.push({ prefix: r.prefix, op: 'install', code: 'EBADROUTE', message: (e as Error).message });
      }
    }
    const ops: Op[] = [];
    let unchanged = 0;
    for (const [prefix, w] of want) {
      if (this.installed.get(prefix) === w.key) unchanged++;
      else ops.push(this.installOp(w));
    }
    for (const prefix of this.installed.keys()) {
      if (!want.has(prefix)) ops.push({ op: 'remove', prefix, net: parsePrefixLite(prefix), metric: this.metric });
    }
    const t1 = performance.now();
    const applied = await this.apply(ops);
    this.lastSyncTimings = { prepareMs: t1 - t0, applyMs: performance.now() - t1 };
    let installed = 0;
    for (const op of applied.done) if (op.op === 'install') installed++;
    for (const o of applied.failed) failed.push(failure(o));
    return { installed, removed: applied.done.length - installed, unchanged, failed };
  }

  /** Installs (or replaces) one route; throws KernelRouteError. */
  install(route: KernelRoute): Promise<void> {
    return this.serial(() => this.installNow(route));
  }

  private async installNow(route: KernelRoute): Promise<void> {
    let p: Prepared;
    try {
      p = prepare(route);
    } catch (e) {
      throw new KernelRouteError({ prefix: route.prefix, op: 'install', code: 'EBADROUTE', message: (e as Error).message });
    }
    const [o] = (await this.apply([this.installOp(p)])).failed;
    if (o !== undefined) throw new KernelRouteError(failure(o));
  }

  /** Removes our route for `prefix`; a route that is not there counts as removed. Throws KernelRouteError. */
  remove(prefix: string): Promise<void> {
    return this.serial(async () => {
      const net = parsePrefixLite(prefix);
      const [o] = (await this.apply([{ op: 'remove', prefix: net.text, net, metric: this.metric }])).failed;
      if (o !== undefined) throw new KernelRouteError(failure(o));
    });
  }

  /**
   * Removes our routes that this run did not install (left by a previous
   * run, or at another metric). Call it once graceful restart is over and
   * `sync()` has put the current routes in. Routes of other protocols are
   * never looked at.
   */
  purgeStale(): Promise<{ removed: string[]; failed: RouteFailure[] }> {
    return this.serial(() => this.purgeStaleNow());
  }

  private async purgeStaleNow(): Promise<{ removed: string[]; failed: RouteFailure[] }> {
    const ops: Op[] = [];
    for (const r of await this.dump()) {
      if (!this.installed.has(r.prefix) || r.metric !== this.metric) ops.push({ op: 'remove', prefix: r.prefix, net: parsePrefixLite(r.prefix), metric: r.metric });
    }
    const applied = await this.apply(ops);
    const removed = applied.done.map((op) => (op as RemoveOp).prefix);
    const failed = applied.failed.map(failure);
    if (failed.length === 0) this.stale.clear();
    return { removed, failed };
  }

  /** Our routes in our table, as the kernel has them now (both families). */
  async dump(): Promise<DumpedRoute[]> {
    const names = new Map([...this.ifindex].map(([n, i]) => [i, n]));
    const out: DumpedRoute[] = [];
    for (const family of [4, 6] as const) {
      const seq = this.sock.nextSeq();
      const replies = await this.sock.exchange(encodeRouteDump(family, seq), seq, seq);
      for (const rep of replies) {
        if (rep.kind === 'done' && rep.error !== 0) throw new NetlinkIoError(`route dump failed: ${errnoName(rep.error)}`, errnoName(rep.error), []);
        if (rep.kind === 'ack' && rep.error !== 0) throw new NetlinkIoError(`route dump failed: ${errnoName(rep.error)}`, errnoName(rep.error), []);
        if (rep.kind !== 'route') continue;
        const m = rep.route;
        if (m.protocol !== this.protocol || m.table !== this.table || m.family !== family) continue;
        out.push(dumped(m, names));
      }
    }
    return out;
  }

  /**
   * Closes the socket. With `keepRoutes` (the default) our routes stay in
   * the kernel so forwarding survives a restart; with false they are
   * removed first.
   */
  close(opts: { keepRoutes?: boolean } = {}): Promise<void> {
    return this.serial(async () => {
      if (opts.keepRoutes === false && this.installed.size > 0) {
        await this.apply([...this.installed.keys()].map((prefix): Op => ({ op: 'remove', prefix, net: parsePrefixLite(prefix), metric: this.metric })));
      }
      await this.sock.close();
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.busy.then(fn, fn);
    this.busy = p.catch(() => undefined);
    return p;
  }

  // -------------------------------------------------------------------------
  // Batches

  private installOp(p: Prepared): InstallOp {
    const prefix = p.route.prefix;
    return { op: 'install', route: p.route, net: p.net, key: p.key, exclusive: !this.installed.has(prefix) && !this.stale.has(prefix) };
  }

  /**
   * Runs operations in batches and records the results. An EXCL install
   * that finds the prefix taken is retried as REPLACE if the route in the
   * way is ours (a dump says so), else reported as EEXIST. ENODEV means an
   * interface was re-created: its index is looked up again, once.
   */
  private async apply(ops: Op[]): Promise<Applied> {
    if (ops.length === 0) return { done: [], failed: [] };
    const first = await this.applyOnce(ops);

    const taken = first.failed.filter((o) => o.code === 'EEXIST' && o.op.op === 'install' && o.op.exclusive);
    const stale = first.failed.filter((o) => o.code === 'ENODEV' && o.op.op === 'install' && o.op.route.nextHops.some((nh) => nh.ifname !== undefined));
    if (taken.length === 0 && stale.length === 0) return first;

    const retry = new Set<Outcome>();
    const retryOps: Op[] = [];
    if (taken.length > 0) {
      const ours = new Map<string, number[]>();
      for (const r of await this.dump()) ours.set(r.prefix, [...(ours.get(r.prefix) ?? []), r.metric]);
      for (const o of taken) {
        const op = o.op as InstallOp;
        if (ours.get(op.route.prefix)?.includes(this.metric)) {
          retry.add(o);
          retryOps.push({ ...op, exclusive: false });
        } else {
          o.message = `a route of another protocol holds ${op.route.prefix} at metric ${this.metric}; left alone`;
        }
      }
    }
    for (const o of stale) {
      for (const nh of (o.op as InstallOp).route.nextHops) if (nh.ifname !== undefined) this.ifindex.delete(nh.ifname);
      retry.add(o);
      retryOps.push(o.op);
    }
    const again = await this.applyOnce(retryOps);
    return { done: [...first.done, ...again.done], failed: [...first.failed.filter((o) => !retry.has(o)), ...again.failed] };
  }

  private async applyOnce(ops: Op[]): Promise<Applied> {
    const done: Op[] = [];
    const failed: Outcome[] = [];

    // First pass: build each message once into the scratch object to check it and learn its length.
    await this.resolveInterfaces(ops);
    const sendable: Op[] = [];
    const lengths: number[] = [];
    for (const op of ops) {
      try {
        this.fill(op);
        lengths.push(routeMessageLength(this.scratch));
        sendable.push(op);
      } catch (e) {
        const err = e as Error & { code?: string };
        failed.push({ op, code: err.code ?? 'EBADROUTE', message: err.message });
      }
    }

    // Up to IN_FLIGHT batches are handed to the addon at once: it runs them
    // one after the other on the thread pool, so the kernel works on batch k
    // while we encode batch k+1 here. Every prefix appears once per call, so
    // the order in which batches reach the kernel does not matter.
    type Sent = { chunk: Op[]; first: number; reply: Promise<{ raw: Buffer; lost: { code: string; message: string } | null }> };
    const sent: Sent[] = [];
    let next = 0;
    const settle = async ({ chunk, first, reply }: Sent): Promise<void> => {
      let { raw, lost } = await reply;
      let acks: AckScan;
      try {
        acks = scanAcks(raw, first, chunk.length);
      } catch (e) {
        if (!(e instanceof NetlinkDecodeError)) throw e;
        acks = { errors: new Int32Array(chunk.length).fill(-1), messages: new Map() };
        lost ??= { code: 'EIO', message: `unreadable reply: ${e.message}` };
      }
      for (let j = 0; j < chunk.length; j++) {
        const op = chunk[j]!;
        const error = acks.errors[j]!;
        if (error < 0) {
          failed.push({ op, code: lost?.code ?? 'EIO', message: lost?.message ?? 'no reply from the kernel' });
          this.record(op, false, true);
          continue;
        }
        const code = error === 0 ? '' : errnoName(error);
        // "No such route" on delete: the route is gone, which is what we wanted.
        const ok = error === 0 || (op.op === 'remove' && (code === 'ESRCH' || code === 'ENOENT'));
        if (ok) done.push(op);
        else failed.push({ op, code, message: acks.messages.get(j) ?? code });
        this.record(op, ok, false);
      }
    };
    for (let i = 0; i < sendable.length; i += this.batchSize) {
      const chunk = sendable.slice(i, i + this.batchSize);
      const first = this.sock.nextSeq(chunk.length);
      let len = 0;
      for (let j = 0; j < chunk.length; j++) len += lengths[i + j]!;
      const buf = Buffer.allocUnsafe(len);
      const header = this.scratchHeader;
      let at = 0;
      for (let j = 0; j < chunk.length; j++) {
        const op = chunk[j]!;
        header.type = op.op === 'install' ? RTM_NEWROUTE : RTM_DELROUTE;
        header.flags = this.fill(op);
        header.seq = first + j;
        at = encodeRoute(this.scratch, header, buf, at);
      }
      const reply = this.sock.exchangeRaw(buf, first + chunk.length - 1).then(
        (raw) => ({ raw, lost: null }),
        (e: unknown) => {
          if (!(e instanceof NetlinkRawError)) throw e;
          return { raw: e.raw, lost: { code: e.code, message: e.message } };
        },
      );
      sent.push({ chunk, first, reply });
      if (sent.length - next >= IN_FLIGHT) await settle(sent[next++]!);
    }
    while (next < sent.length) await settle(sent[next++]!);
    return { done, failed };
  }

  /** Updates what we believe is installed after one operation. */
  private record(op: Op, done: boolean, unknown: boolean): void {
    if (op.op === 'install') {
      if (done) this.installed.set(op.route.prefix, op.key);
      else if (unknown) {
        // It may be in: forget the old version (so the next sync retries) but treat the prefix as ours.
        this.installed.delete(op.route.prefix);
        this.stale.add(op.route.prefix);
      }
      // A refused replace leaves the old route in place: keep believing it is there.
    } else if (done) {
      if (op.metric === this.metric) this.installed.delete(op.prefix);
      this.stale.delete(op.prefix);
    }
  }

  /** One message at a time is built here and encoded at once: no object per route. */
  private readonly scratch: RouteMessage = {
    family: 4,
    dstLen: 0,
    table: 0,
    protocol: 0,
    scope: 0,
    type: 0,
    flags: 0,
    dst: undefined,
    gateway: undefined,
    oif: undefined,
    priority: undefined,
    multipath: undefined,
  };
  private readonly scratchHeader = { type: 0, flags: 0, seq: 0 };

  /** Fills `scratch` with the message for `op`; returns its nlmsg flags. Throws (code ENODEV) for an unknown interface. */
  private fill(op: Op): number {
    const m = this.scratch;
    const p = op.net;
    m.family = p.family;
    m.dstLen = p.len;
    m.table = this.table;
    m.protocol = this.protocol;
    m.dst = p.address;
    m.flags = 0;
    m.gateway = undefined;
    m.oif = undefined;
    m.multipath = undefined;
    if (op.op === 'remove') {
      m.scope = RT_SCOPE_NOWHERE;
      m.type = 0;
      m.priority = op.metric;
      return NLM_F_REQUEST | NLM_F_ACK;
    }
    m.scope = RT_SCOPE_UNIVERSE;
    m.priority = this.metric;
    const flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | (op.exclusive ? NLM_F_EXCL : NLM_F_REPLACE);
    const r = op.route;
    if (r.blackhole) {
      m.type = RTN_BLACKHOLE;
      return flags;
    }
    m.type = RTN_UNICAST;
    // prepare() checked the next hops (family, onlink with an interface).
    if (r.nextHops.length === 1) {
      const nh = r.nextHops[0]!;
      const oif = this.index(r.prefix, nh);
      m.gateway = nh.gateway;
      m.oif = oif !== 0 ? oif : undefined;
      m.flags = nh.onlink ? RTNH_F_ONLINK : 0;
      return flags;
    }
    m.multipath = r.nextHops.map((nh) => ({ gateway: nh.gateway, ifindex: this.index(r.prefix, nh), flags: nh.onlink ? RTNH_F_ONLINK : 0, hops: 0 }));
    return flags;
  }

  private index(prefix: string, nh: KernelNextHop): number {
    if (nh.ifname === undefined) return 0;
    const i = this.ifindex.get(nh.ifname);
    if (i === undefined) throw Object.assign(new Error(`${prefix}: no interface '${nh.ifname}'`), { code: 'ENODEV' });
    return i;
  }

  /** Looks up the index of every interface the operations name that we do not know yet (one exchange). */
  private async resolveInterfaces(ops: Op[]): Promise<void> {
    const names = new Set<string>();
    for (const op of ops) {
      if (op.op !== 'install') continue;
      for (const nh of op.route.nextHops) if (nh.ifname !== undefined && !this.ifindex.has(nh.ifname)) names.add(nh.ifname);
    }
    if (names.size === 0) return;
    const list = [...names].filter((n) => Buffer.byteLength(n) < 16); // IFNAMSIZ; longer names cannot exist
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

// ---------------------------------------------------------------------------
// Helpers

function failure(o: Outcome): RouteFailure {
  const prefix = o.op.op === 'install' ? o.op.route.prefix : o.op.prefix;
  return { prefix, op: o.op.op, code: o.code, message: o.message };
}

function dumped(m: RouteMessage, names: Map<number, string>): DumpedRoute {
  const len = m.dstLen;
  const dst = m.dst ?? (m.family === 4 ? '0.0.0.0' : '::');
  const hop = (gateway: string | undefined, ifindex: number, flags: number) => {
    const name = names.get(ifindex);
    return { ...(gateway !== undefined ? { gateway } : {}), ifindex, ...(name !== undefined ? { ifname: name } : {}), onlink: (flags & RTNH_F_ONLINK) !== 0 };
  };
  const nextHops =
    m.multipath !== undefined
      ? m.multipath.map((nh) => hop(nh.gateway, nh.ifindex, nh.flags))
      : m.gateway !== undefined || m.oif !== undefined
        ? [hop(m.gateway, m.oif ?? 0, m.flags)]
        : [];
  return {
    prefix: `${dst}/${len}`,
    family: m.family,
    table: m.table,
    metric: m.priority ?? 0,
    blackhole: m.type === RTN_BLACKHOLE,
    nextHops,
  };
}
