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
 *
 * Layout: this file is the `KernelFib` facade (the public operations and
 * the diff against what is installed); next-hops.ts interns next-hop sets
 * and builds their request templates; netlink-batch.ts writes, sends and
 * settles the batches; kernel-routes.ts holds the public types.
 */
import { NetlinkIoError, NetlinkSocket, loadNetlinkAddon } from './netlink-socket.js';
import { RTN_BLACKHOLE, RTNH_F_ONLINK, RT_TABLE_MAIN, encodeRouteDump, errnoName, parsePrefixInto, prefixWords, type PrefixWords, type RouteMessage } from './netlink-codec.js';
import { DEFAULT_METRIC, KernelRouteError, RTPROT_CALICO_BGPD, type DumpedRoute, type KernelFibOptions, type KernelRoute, type RouteFailure, type SyncResult } from './kernel-routes.js';
import { BatchPipeline, INSTALL_EXCL, INSTALL_REPLACE, defaultBatchSize, refuse, report, type Failure, type Round, type Slot } from './netlink-batch.js';
import { NextHops, type Via } from './next-hops.js';
import { familyOf } from '../family.js';

export * from './kernel-routes.js';

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
  /** Where the prefix of the route at hand is parsed to (valid until the next parse). */
  private readonly net: PrefixWords = prefixWords();
  private readonly hops: NextHops;
  private readonly pipe: BatchPipeline;
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
    this.batchSize = Math.max(1, opts.batchSize ?? defaultBatchSize(sock.rcvbuf));
    this.hops = new NextHops(sock, this);
    this.pipe = new BatchPipeline(sock, { installed: this.installed, stale: this.stale, metric: this.metric }, this, this.batchSize, this.net);
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
        if (this.pipe.putRemove(round, { prefix, via: null, op: round.id }, r.metric)) await this.pipe.drain(round);
      }
      await this.pipe.finish(round);
    } finally {
      await this.pipe.abandon(round);
    }
    if (round.failed.length === 0) this.stale.clear();
    const kept = new Set(round.failed.map((f) => `${f.prefix} ${f.info}`));
    return { removed: tried.filter(([p, metric]) => !kept.has(`${p} ${metric}`)).map(([p]) => p), failed: round.failed.map(report) };
  }

  /** Our routes in our table, as the kernel has them now (both families). */
  async dump(): Promise<DumpedRoute[]> {
    const names = new Map([...this.hops.ifindex].map(([n, i]) => [i, n]));
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
        if (via !== null) await this.hops.templateOf(via, round.id);
        else await this.pipe.drain(round);
      }
      if (removed === null) {
        const rest = this.installed.values();
        while (!this.removePass(round, rest)) await this.pipe.drain(round);
      } else {
        for (let i = 0; i < removed.length; ) {
          i = this.removeListPass(round, removed, i, always);
          await this.pipe.drain(round);
        }
      }
      await this.pipe.finish(round);
      // A prefix given twice: its first route is settled, now the last one goes in.
      if (round.twice.length > 0) {
        const last = new Map<string, KernelRoute>();
        for (const r of round.twice) last.set(parsePrefixInto(r.prefix, net), r);
        for (const [prefix, r] of last) {
          parsePrefixInto(prefix, net);
          const via = this.hops.viaOf(r, net.family) as Via;
          let slot = this.installed.get(prefix);
          if (slot?.via === via) continue;
          const template = await this.hops.templateOf(via, round.id);
          if (template === null) {
            refuse(round, 'install', prefix, 'ENODEV', `${prefix}: no interface '${via.missing}'`);
            continue;
          }
          const flags = slot === undefined && !this.stale.has(prefix) ? INSTALL_EXCL : INSTALL_REPLACE;
          if (slot === undefined) this.installed.set(prefix, (slot = { prefix, via: null, op }));
          if (this.pipe.put(round, slot, template, flags, via, flags)) await this.pipe.drain(round);
        }
        await this.pipe.finish(round);
      }
      await this.retry(round);
    } finally {
      await this.pipe.abandon(round);
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
      const via = this.hops.viaOf(r, net.family);
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
      if (template === null || via.gen !== this.hops.gen) {
        if (via.gen !== this.hops.gen || via.checkedIn !== op) {
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
      if (this.pipe.put(round, slot, template, flags, via, flags)) return i + 1;
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
      if (this.pipe.putRemove(round, slot, this.metric)) return false;
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
      if (this.pipe.putRemove(round, slot, this.metric)) return i + 1;
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
      this.hops.forgetInterfaces(moved.map((f) => f.via!));
      again.push(...moved);
    }
    round.failed = round.failed.filter((f) => !again.includes(f));
    for (const f of again) {
      const via = f.via!;
      const template = await this.hops.templateOf(via, round.id);
      if (template === null) {
        refuse(round, 'install', f.prefix, 'ENODEV', `${f.prefix}: no interface '${via.missing}'`);
        continue;
      }
      parsePrefixInto(f.prefix, this.net);
      let slot = this.installed.get(f.prefix);
      if (slot === undefined) this.installed.set(f.prefix, (slot = { prefix: f.prefix, via: null, op: round.id }));
      if (this.pipe.put(round, slot, template, f.info, via, f.info)) await this.pipe.drain(round);
    }
    await this.pipe.finish(round);
  }


  /** A new operation: unused next-hop sets dropped first (when there are many), then a fresh round. */
  private begin(): Round {
    this.hops.prune(this.installed.values());
    return this.pipe.begin();
  }
}

// ---------------------------------------------------------------------------
// Helpers

function dumped(m: RouteMessage, names: Map<number, string>): DumpedRoute {
  const len = m.dstLen;
  const dst = m.dst ?? familyOf(m.family).anyAddress;
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
