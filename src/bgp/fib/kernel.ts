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
 * Speed: routes are checked, diffed and encoded in one pass, batch after
 * batch, while the kernel works on the batch before (two cores: the kernel
 * side of a send runs on the addon's thread). Next-hop sets are interned,
 * so a route that did not change costs one map lookup and one reference
 * comparison, and encoding a route is copying its next-hop set's request
 * template into one send buffer and patching in the destination.
 *
 * Replies: only the last request of a batch asks for an ACK. The kernel
 * answers a failed request whether it asked or not (netlink_rcv_skb acks
 * when NLM_F_ACK is set *or* the request failed), and answers requests in
 * order, so once a batch's last ACK is in, a request without a reply is
 * done. That halves the kernel's work per route (no ACK to allocate, queue
 * and read). When the exchange fails instead (ENOBUFS: a reply was
 * dropped; a timeout), requests without a reply are unknown: an install is
 * forgotten and tried again, as a replace, by the next sync. A batch is
 * sized so that a reply to each of its requests fits in the socket's
 * receive buffer, so a batch in which everything fails still reports every
 * failure. One failed route never fails the others.
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
  NetlinkDecodeError,
  RouteTemplate,
  canonicalAddress,
  encodeLinkRequest,
  encodeRouteDump,
  errnoName,
  linkRequestLength,
  parsePrefixInto,
  prefixWords,
  scanAcks,
  setRequestFlags,
  type Family,
  type PrefixWords,
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

/** Receive-buffer octets we budget per reply (an skb's true size, with room to spare). */
const REPLY_BUDGET = 2048;
/**
 * Requests per send at most. Past a few thousand a bigger batch saves
 * little kernel time, and the first and last batches, during which only
 * one side (we or the kernel) works, grow.
 */
const MAX_BATCH = 4096;
/** Octets per send at most (the socket's send buffer may allow less). */
const MAX_BATCH_BYTES = 1 << 20;
/** Batches handed to the addon before we wait for the oldest: the kernel works on one while we encode the next. */
const IN_FLIGHT = 2;
/** Interned next-hop sets kept before the unused ones are dropped. */
const VIA_CACHE_MAX = 4096;

const INSTALL_EXCL = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
const INSTALL_REPLACE = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE;
const REMOVE = NLM_F_REQUEST;

// ---------------------------------------------------------------------------
// Next-hop sets

/**
 * The next hops of a route, or a blackhole, of one family, interned: every
 * route through the same next hops holds the same object, so "did this
 * route change" is a reference comparison, and its request template is
 * built once.
 */
class Via {
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

// ---------------------------------------------------------------------------
// Batches

/**
 * A prefix of ours. One per installed route, kept while it stays
 * installed, so the diff of a route that did not change is one map lookup
 * and a mark, and recording a new route's ACK is a field write.
 */
interface Slot {
  /** Canonical text (the caller's own string when it was canonical). */
  readonly prefix: string;
  /** The next hops the kernel has; null until the first install of the prefix is acknowledged. */
  via: Via | null;
  /** The last operation that handled the prefix: a sync removes the prefixes it did not mark, and a prefix given twice is seen. */
  op: number;
}

/** The requests of one send, and what each was for. */
class Batch {
  count = 0;
  /** The prefix of each request (a purge's removals of routes we did not install get slots outside the map). */
  readonly slots: Slot[] = [];
  /** Install: the next hops installed; remove: null. */
  readonly vias: (Via | null)[] = [];
  /** Install: its nlmsg flags (NLM_F_EXCL or NLM_F_REPLACE); remove: the metric removed. */
  readonly info: number[] = [];
  reply: Promise<Reply> | null = null;

  constructor(readonly firstSeq: number) {}
}

/** The reply octets of a batch; `lost` when the exchange failed (then silence says nothing). */
interface Reply {
  raw: Buffer;
  lost: { code: string; message: string } | null;
}

/** A request that failed or was refused: what to report, and what to send again if it is retried. */
interface Failure {
  op: 'install' | 'remove';
  prefix: string;
  via: Via | null;
  info: number;
  code: string;
  message: string;
}

/** One public operation's requests, from the first batch to the last reply. */
interface Round {
  /** Operation number (an interface found missing is looked up again by the next operation, not once per route). */
  id: number;
  /** The batch being filled, and where its next request goes in the send buffer. */
  batch: Batch | null;
  at: number;
  /** Offset and flags of the batch's last request (it gets NLM_F_ACK when the batch is sent). */
  lastAt: number;
  lastFlags: number;
  /** Handed to the addon, not yet settled, oldest first. */
  sent: Batch[];
  installed: number;
  removed: number;
  /** Failures the kernel reported, or unknown outcomes. */
  failed: Failure[];
  /** Routes refused before any request (bad route, missing interface). */
  refused: Failure[];
  unchanged: number;
  /** Routes for a prefix already handled in this operation (their turn comes once the first is settled). */
  twice: KernelRoute[];
  /** Set when the pass stopped because these next hops need their interfaces looked up. */
  blocked: Via | null;
  waitMs: number;
  batches: number;
}

// ---------------------------------------------------------------------------
// The FIB

export class KernelFib {
  /**
   * What we installed in this run, by canonical prefix; also the prefixes
   * of requests under way (`via` null). A map entry and a small object per
   * route, so a table of 100,000 routes costs the garbage collector little.
   */
  private readonly installed = new Map<string, Slot>();
  /** Prefixes of ours found at open (previous run) and not yet purged: installs over them use REPLACE. */
  private readonly stale = new Set<string>();
  private readonly ifindex = new Map<string, number>();
  /** Bumped when an interface index is forgotten: request templates are rebuilt. */
  private ifGen = 0;
  /** Interned next-hop sets by canonical text. */
  private readonly vias = new Map<string, Via>();
  /** Single next hops by gateway text as given: the per-route lookup, no string built. */
  private readonly single = new Map<string, SingleHop[]>();
  /** Several next hops by their text as given. */
  private readonly multi = new Map<string, Via>();
  private readonly blackholes: Record<Family, Via>;
  private readonly removeTemplates = new Map<number, RouteTemplate>();
  /** The send buffer: the addon copies a request before `exchangeRaw()` returns, so one buffer serves every batch. */
  private buf: Buffer;
  /** Where the prefix of the route at hand is parsed to (valid until the next parse). */
  private readonly net: PrefixWords = prefixWords();
  private operations = 0;
  /**
   * Where the last `sync()` or `update()` spent its time: our own work
   * (checking, diffing, encoding, reading replies) and waiting for the
   * kernel with nothing left to do, over `batches` sends.
   */
  lastSyncTimings = { workMs: 0, waitMs: 0, batches: 0 };
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
    this.batchSize = Math.max(1, opts.batchSize ?? Math.min(MAX_BATCH, Math.max(16, Math.floor(sock.rcvbuf / REPLY_BUDGET))));
    // netlink_sendmsg() refuses a send longer than the send buffer less 32 octets.
    this.buf = Buffer.allocUnsafeSlow(Math.max(4096, Math.min(MAX_BATCH_BYTES, sock.sndbuf - 64)));
    this.blackholes = { 4: new Via(4, [], true), 6: new Via(6, [], true) };
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
    const out: string[] = [];
    for (const slot of this.installed.values()) if (slot.via !== null) out.push(slot.prefix);
    return out;
  }

  /**
   * Makes the table hold exactly `desired` (among the routes this run
   * installed): installs new and changed routes, removes the ones that went.
   * Routes left by a previous run are only replaced when desired again; the
   * rest wait for `purgeStale()`. A prefix given twice: the last one counts.
   */
  sync(desired: Iterable<KernelRoute>): Promise<SyncResult> {
    const routes = [...desired]; // the caller may change its collection while we wait our turn
    return this.serial(() => this.change(routes, null, false));
  }

  /**
   * Applies changes only: installs `routes` that are new or changed, and
   * removes the routes of ours for `removed` prefixes (a prefix we did not
   * install this run is left alone, as `sync()` leaves it). The rest of the
   * table is not looked at: the cost is that of the changes.
   */
  update(routes: Iterable<KernelRoute>, removed: Iterable<string>): Promise<SyncResult> {
    const set = [...routes];
    const gone = [...removed];
    return this.serial(() => this.change(set, gone, false));
  }

  /** Installs (or replaces) one route, even one we believe is in; throws KernelRouteError. */
  install(route: KernelRoute): Promise<void> {
    return this.serial(async () => {
      const r = await this.change([route], [], true);
      if (r.failed[0] !== undefined) throw new KernelRouteError(r.failed[0]);
    });
  }

  /** Removes our route for `prefix`; a route that is not there counts as removed. Throws KernelRouteError. */
  remove(prefix: string): Promise<void> {
    return this.serial(async () => {
      const r = await this.change([], [prefix], true);
      if (r.failed[0] !== undefined) throw new KernelRouteError(r.failed[0]);
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
    const round = this.begin();
    const tried: [string, number][] = [];
    try {
      for (const r of await this.dump()) {
        if (r.metric === this.metric && this.installed.get(r.prefix)?.via != null) continue;
        const prefix = parsePrefixInto(r.prefix, this.net);
        tried.push([prefix, r.metric]);
        if (this.putRemove(round, { prefix, via: null, op: round.id }, r.metric)) await this.drain(round);
      }
      await this.finish(round);
    } finally {
      await this.abandon(round);
    }
    if (round.failed.length === 0) this.stale.clear();
    const kept = new Set(round.failed.map((f) => `${f.prefix} ${f.info}`));
    return { removed: tried.filter(([p, metric]) => !kept.has(`${p} ${metric}`)).map(([p]) => p), failed: round.failed.map(report) };
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
      if (opts.keepRoutes === false && this.installed.size > 0) await this.change([], null, false); // a sync to nothing
      await this.sock.close();
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.busy.then(fn, fn);
    this.busy = p.catch(() => undefined);
    return p;
  }

  // -------------------------------------------------------------------------
  // Changes

  /**
   * Installs `routes` (those that differ from what we installed, or all
   * with `always`), then removes: with `removed` null every route of ours
   * not in `routes` (sync), else the routes of ours for those prefixes
   * (with `always`, whether we know them as ours or not).
   */
  private async change(routes: readonly KernelRoute[], removed: readonly string[] | null, always: boolean): Promise<SyncResult> {
    const t0 = performance.now();
    const round = this.begin();
    const op = round.id;
    const net = this.net;
    try {
      // The passes over the routes are plain loops in synchronous methods (optimised while they run, which an
      // async function's loop is not); they stop when a batch must be waited for or interfaces looked up.
      for (let i = 0; i < routes.length; ) {
        i = this.installPass(round, routes, i, always);
        const via = round.blocked;
        round.blocked = null;
        if (via !== null) await this.templateOf(via, round);
        else await this.drain(round);
      }
      if (removed === null) {
        const rest = this.installed.values();
        while (!this.removePass(round, rest)) await this.drain(round);
      } else {
        for (let i = 0; i < removed.length; ) {
          i = this.removeListPass(round, removed, i, always);
          await this.drain(round);
        }
      }
      await this.finish(round);
      // A prefix given twice: its first route is settled, now the last one goes in.
      if (round.twice.length > 0) {
        const last = new Map<string, KernelRoute>();
        for (const r of round.twice) last.set(parsePrefixInto(r.prefix, net), r);
        for (const [prefix, r] of last) {
          parsePrefixInto(prefix, net);
          const via = this.viaOf(r, net.family) as Via;
          let slot = this.installed.get(prefix);
          if (slot?.via === via) continue;
          const template = await this.templateOf(via, round);
          if (template === null) {
            refuse(round, 'install', prefix, 'ENODEV', `${prefix}: no interface '${via.missing}'`);
            continue;
          }
          const flags = slot === undefined && !this.stale.has(prefix) ? INSTALL_EXCL : INSTALL_REPLACE;
          if (slot === undefined) this.installed.set(prefix, (slot = { prefix, via: null, op }));
          if (this.put(round, slot, template, flags, via, flags)) await this.drain(round);
        }
        await this.finish(round);
      }
      await this.retry(round);
    } finally {
      await this.abandon(round);
    }
    const total = performance.now() - t0;
    this.lastSyncTimings = { workMs: total - round.waitMs, waitMs: round.waitMs, batches: round.batches };
    return { installed: round.installed, removed: round.removed, unchanged: round.unchanged, failed: [...round.refused, ...round.failed].map(report) };
  }

  /**
   * Queues the installs of `routes` from `i` on; returns where it stopped:
   * after a request that filled the batches in flight (the caller drains),
   * before a route whose next hops need their interfaces looked up
   * (`round.blocked`; the caller looks them up and calls again, and the
   * route is taken from the start: nothing was changed for it), or at the end.
   */
  private installPass(round: Round, routes: readonly KernelRoute[], i: number, always: boolean): number {
    const op = round.id;
    const net = this.net;
    for (; i < routes.length; i++) {
      const r = routes[i]!;
      let prefix: string;
      try {
        prefix = parsePrefixInto(r.prefix, net);
      } catch (e) {
        refuse(round, 'install', r.prefix, 'EBADROUTE', (e as Error).message);
        continue;
      }
      const via = this.viaOf(r, net.family);
      if (typeof via === 'string') {
        // Left unmarked: a sync removes what we had for the prefix, as for any prefix no longer wanted.
        refuse(round, 'install', prefix, 'EBADROUTE', `${prefix}: ${via}`);
        continue;
      }
      let slot = this.installed.get(prefix);
      if (slot !== undefined && slot.op === op) {
        round.twice.push(r);
        continue;
      }
      if (slot !== undefined && slot.via === via && !always) {
        slot.op = op;
        round.unchanged++;
        continue;
      }
      const template = via.template;
      if (template === null || via.gen !== this.ifGen) {
        if (via.gen !== this.ifGen || via.checkedIn !== op) {
          round.blocked = via;
          return i;
        }
        if (slot !== undefined) slot.op = op; // what is installed stays
        refuse(round, 'install', prefix, 'ENODEV', `${prefix}: no interface '${via.missing}'`);
        continue;
      }
      const flags = slot === undefined && !this.stale.has(prefix) ? INSTALL_EXCL : INSTALL_REPLACE;
      if (slot === undefined) {
        slot = { prefix, via: null, op };
        this.installed.set(prefix, slot);
      } else {
        slot.op = op;
      }
      if (this.put(round, slot, template, flags, via, flags)) return i + 1;
    }
    return i;
  }

  /** Queues the removal of every prefix of ours that this operation did not mark; false when it stopped for the caller to drain. */
  private removePass(round: Round, rest: IterableIterator<Slot>): boolean {
    for (let next = rest.next(); !next.done; next = rest.next()) {
      const slot = next.value;
      if (slot.op === round.id) continue;
      parsePrefixInto(slot.prefix, this.net);
      slot.op = round.id;
      if (this.putRemove(round, slot, this.metric)) return false;
    }
    return true;
  }

  /** Queues the removals of `removed` from `i` on (ours only unless `always`); returns where it stopped, as `installPass`. */
  private removeListPass(round: Round, removed: readonly string[], i: number, always: boolean): number {
    for (; i < removed.length; i++) {
      const text = removed[i]!;
      let prefix: string;
      try {
        prefix = parsePrefixInto(text, this.net);
      } catch (e) {
        refuse(round, 'remove', text, 'EBADROUTE', (e as Error).message);
        continue;
      }
      let slot = this.installed.get(prefix);
      if (slot?.op === round.id) continue;
      if (slot === undefined) {
        if (!always) continue; // not ours: left alone, as a sync leaves it
        slot = { prefix, via: null, op: round.id }; // outside the map: only the reply needs it
      }
      slot.op = round.id;
      if (this.putRemove(round, slot, this.metric)) return i + 1;
    }
    return i;
  }

  /**
   * Tries again, once, what may succeed now: an exclusive install refused
   * with EEXIST, as a replace, if the route in the way is ours (a dump says
   * so; else it is another protocol's and stays); an install refused with
   * ENODEV, after looking its interfaces up again (one was re-created and
   * has a new index).
   */
  private async retry(round: Round): Promise<void> {
    const taken = round.failed.filter((f) => f.code === 'EEXIST' && f.via !== null && f.info === INSTALL_EXCL);
    const moved = round.failed.filter((f) => f.code === 'ENODEV' && f.via !== null && f.via.hops.some((nh) => nh.ifname !== undefined));
    if (taken.length === 0 && moved.length === 0) return;
    const again: Failure[] = [];
    if (taken.length > 0) {
      const ours = new Map<string, number[]>();
      for (const r of await this.dump()) ours.set(r.prefix, [...(ours.get(r.prefix) ?? []), r.metric]);
      for (const f of taken) {
        if (ours.get(f.prefix)?.includes(this.metric)) {
          f.info = INSTALL_REPLACE;
          again.push(f);
        } else {
          f.message = `a route of another protocol holds ${f.prefix} at metric ${this.metric}; left alone`;
        }
      }
    }
    if (moved.length > 0) {
      for (const f of moved) for (const nh of f.via!.hops) if (nh.ifname !== undefined) this.ifindex.delete(nh.ifname);
      this.ifGen++;
      again.push(...moved);
    }
    round.failed = round.failed.filter((f) => !again.includes(f));
    for (const f of again) {
      const via = f.via!;
      const template = await this.templateOf(via, round);
      if (template === null) {
        refuse(round, 'install', f.prefix, 'ENODEV', `${f.prefix}: no interface '${via.missing}'`);
        continue;
      }
      parsePrefixInto(f.prefix, this.net);
      let slot = this.installed.get(f.prefix);
      if (slot === undefined) this.installed.set(f.prefix, (slot = { prefix: f.prefix, via: null, op: round.id }));
      if (this.put(round, slot, template, f.info, via, f.info)) await this.drain(round);
    }
    await this.finish(round);
  }

  // -------------------------------------------------------------------------
  // Next-hop sets

  /** The interned next hops of a route, or why it has none. */
  private viaOf(r: KernelRoute, family: Family): Via | string {
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
  private pruneVias(): void {
    if (this.vias.size < VIA_CACHE_MAX) return;
    const used = new Set<Via | null>();
    for (const slot of this.installed.values()) used.add(slot.via);
    for (const [key, via] of this.vias) if (!used.has(via)) this.vias.delete(key);
    this.single.clear();
    this.multi.clear();
  }

  /** The install template of `via`, or null when one of its interfaces does not exist (`via.missing` says which). */
  private async templateOf(via: Via, round: Round): Promise<RouteTemplate | null> {
    if (via.gen === this.ifGen && (via.template !== null || via.checkedIn === round.id)) return via.template;
    const unknown = via.hops.flatMap((nh) => (nh.ifname !== undefined && !this.ifindex.has(nh.ifname) ? [nh.ifname] : []));
    if (unknown.length > 0) await this.resolveInterfaces(unknown);
    via.gen = this.ifGen;
    via.checkedIn = round.id;
    via.missing = via.hops.find((nh) => nh.ifname !== undefined && !this.ifindex.has(nh.ifname))?.ifname ?? null;
    via.template = via.missing === null ? RouteTemplate.of(this.message(via), RTM_NEWROUTE) : null;
    return via.template;
  }

  /** The route message of `via` (destination left to the template). */
  private message(via: Via): RouteMessage {
    const m: RouteMessage = { family: via.family, dstLen: 0, table: this.table, protocol: this.protocol, scope: RT_SCOPE_UNIVERSE, type: RTN_UNICAST, flags: 0, priority: this.metric };
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

  private removeTemplate(family: Family, metric: number): RouteTemplate {
    const key = metric * 2 + (family === 6 ? 1 : 0);
    let t = this.removeTemplates.get(key);
    if (t === undefined) {
      t = RouteTemplate.of({ family, dstLen: 0, table: this.table, protocol: this.protocol, scope: RT_SCOPE_NOWHERE, type: 0, flags: 0, priority: metric }, RTM_DELROUTE);
      this.removeTemplates.set(key, t);
    }
    return t;
  }

  // -------------------------------------------------------------------------
  // Batches

  private begin(): Round {
    this.pruneVias();
    return { id: ++this.operations, batch: null, at: 0, lastAt: 0, lastFlags: 0, sent: [], installed: 0, removed: 0, failed: [], refused: [], unchanged: 0, twice: [], blocked: null, waitMs: 0, batches: 0 };
  }

  /** Queues the removal of the prefix just parsed into `this.net`, at `metric`. */
  private putRemove(round: Round, slot: Slot, metric: number): boolean {
    return this.put(round, slot, this.removeTemplate(this.net.family, metric), REMOVE, null, metric);
  }

  /**
   * Writes one request (for the prefix just parsed into `this.net`) into the
   * batch being filled, sending the batch when it is full. True when the
   * caller must `await this.drain()` before the next request.
   */
  private put(round: Round, slot: Slot, template: RouteTemplate, flags: number, via: Via | null, info: number): boolean {
    if (round.batch !== null && round.at + template.length > this.buf.length) this.send(round);
    let b = round.batch;
    if (b === null) {
      b = round.batch = new Batch(this.sock.nextSeq(this.batchSize));
      round.at = 0;
      if (template.length > this.buf.length) this.buf = Buffer.allocUnsafeSlow(template.length);
    }
    round.lastAt = round.at;
    round.lastFlags = flags;
    round.at = template.write(this.buf, round.at, flags, b.firstSeq + b.count, this.net);
    b.slots.push(slot);
    b.vias.push(via);
    b.info.push(info);
    if (++b.count === this.batchSize) this.send(round);
    return round.sent.length >= IN_FLIGHT;
  }

  /** Hands the batch being filled to the addon; its last request asks for the ACK that closes it. */
  private send(round: Round): void {
    const b = round.batch;
    if (b === null) return;
    round.batch = null;
    setRequestFlags(this.buf, round.lastAt, round.lastFlags | NLM_F_ACK);
    b.reply = this.sock.exchangeRaw(this.buf.subarray(0, round.at), b.firstSeq + b.count - 1).then(
      (raw): Reply => ({ raw, lost: null }),
      (e: unknown): Reply => {
        if (!(e instanceof NetlinkRawError)) throw e;
        return { raw: e.raw, lost: { code: e.code, message: e.message } };
      },
    );
    round.sent.push(b);
    round.batches++;
  }

  /** Settles sent batches, oldest first, until fewer than IN_FLIGHT are out. */
  private async drain(round: Round): Promise<void> {
    while (round.sent.length >= IN_FLIGHT) await this.settleOldest(round);
  }

  /** Sends the batch being filled and settles every batch sent. */
  private async finish(round: Round): Promise<void> {
    this.send(round);
    while (round.sent.length > 0) await this.settleOldest(round);
  }

  /** After a throw: requests not sent are dropped, the replies of those sent are still recorded. */
  private async abandon(round: Round): Promise<void> {
    for (const slot of round.batch?.slots ?? []) if (slot.via === null) this.forget(slot);
    round.batch = null;
    while (round.sent.length > 0) await this.settleOldest(round);
  }

  private async settleOldest(round: Round): Promise<void> {
    const b = round.sent.shift()!;
    const t = performance.now();
    const reply = await b.reply!;
    round.waitMs += performance.now() - t;
    this.settle(round, b, reply);
  }

  /** Records the outcome of every request of a batch. */
  private settle(round: Round, b: Batch, reply: Reply): void {
    let { lost } = reply;
    let errors: Int32Array;
    let messages: Map<number, string>;
    try {
      ({ errors, messages } = scanAcks(reply.raw, b.firstSeq, b.count));
    } catch (e) {
      if (!(e instanceof NetlinkDecodeError)) throw e;
      errors = new Int32Array(b.count).fill(-1);
      messages = new Map();
      lost ??= { code: 'EIO', message: `unreadable reply: ${e.message}` };
    }
    const last = b.count - 1;
    for (let j = 0; j < b.count; j++) {
      const slot = b.slots[j]!;
      const via = b.vias[j]!;
      const info = b.info[j]!;
      let error = errors[j]!;
      if (error < 0) {
        if (lost === null && j < last) {
          error = 0; // no reply to a request that did not ask for one: done
        } else {
          round.failed.push({ op: via !== null ? 'install' : 'remove', prefix: slot.prefix, via, info, code: lost?.code ?? 'EIO', message: lost?.message ?? 'no reply from the kernel' });
          if (via !== null) {
            // It may be in: forget the old version (so the next sync retries) but treat the prefix as ours.
            this.forget(slot);
            this.stale.add(slot.prefix);
          }
          continue;
        }
      }
      if (via !== null) {
        if (error === 0) {
          slot.via = via;
          round.installed++;
        } else {
          // A refused replace leaves the old route in place: keep believing it is there.
          if (slot.via === null) this.forget(slot);
          const code = errnoName(error);
          round.failed.push({ op: 'install', prefix: slot.prefix, via, info, code, message: messages.get(j) ?? code });
        }
        continue;
      }
      const code = error === 0 ? '' : errnoName(error);
      // "No such route" on delete: the route is gone, which is what we wanted.
      if (error === 0 || code === 'ESRCH' || code === 'ENOENT') {
        if (info === this.metric) this.forget(slot);
        this.stale.delete(slot.prefix);
        round.removed++;
      } else {
        round.failed.push({ op: 'remove', prefix: slot.prefix, via: null, info, code, message: messages.get(j) ?? code });
      }
    }
  }

  /** Drops a prefix from what we installed (if `slot` is the one the map holds). */
  private forget(slot: Slot): void {
    if (this.installed.get(slot.prefix) === slot) this.installed.delete(slot.prefix);
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

// ---------------------------------------------------------------------------
// Helpers

function refuse(round: Round, op: 'install' | 'remove', prefix: string, code: string, message: string): void {
  round.refused.push({ op, prefix, via: null, info: 0, code, message });
}

function notFamily(gateway: string, family: Family): string {
  return `gateway '${gateway}' is not an IPv${family} address`;
}

function report(f: Failure): RouteFailure {
  return { prefix: f.prefix, op: f.op, code: f.code, message: f.message };
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
