/**
 * Keeps the kernel's routes in step with the Loc-RIB, the way a Calico node
 * running BIRD does (blackholes for local blocks, best routes through
 * Calico's kernel filter; see ../fib/calico-routes.ts).
 *
 * Incremental: the speaker says which prefixes' best routes changed. They
 * are gathered for `debounceMs`, looked up again in the Loc-RIB, put
 * through the filter, and handed to `fib.update()`, which sends only what
 * differs from what the kernel has: a burst of UPDATEs becomes one batch of
 * netlink messages, and its cost is that of the burst, not of the table.
 * A model change (pools, blocks, tunnel mode, this node's address) can
 * change any route, so it recomputes them all and `fib.sync()`s the whole
 * set; the FIB still sends only the differences.
 *
 * Graceful restart (RFC 4724 section 4.1): routes of ours left in the kernel
 * by a previous run keep forwarding while the sessions come back; they are
 * purged once every peer has sent End-of-RIB, or after `purgeAfterSeconds`.
 */
import type { Logger } from 'pino';
import type { Fib } from '../fib/fallback.js';
import type { KernelRoute, SyncResult } from '../fib/kernel.js';
import { CalicoKernelFilter, type BestRoute } from '../fib/calico-routes.js';
import type { NodeBgpConfig } from '../../model/types.js';
import { Afi } from '../packet/index.js';
import { multipathOf, type Destination, type LocRib } from '../rib/loc-rib.js';
import { keyFamily, keyFromString, keyToString, type PrefixKey } from '../rib/prefix-key.js';
import { type Clock, systemClock } from '../session/clock.js';

export class KernelSync {
  private timer: unknown = null;
  private running: Promise<void> | null = null;
  private again = false;
  private purged = false;
  private purgeTimer: unknown = null;
  private model: NodeBgpConfig;
  /** The model's filter per family, compiled when first needed after a model change. */
  private filters: { v4: CalicoKernelFilter; v6: CalicoKernelFilter } | null = null;
  /** The next apply recomputes every route (start, model change, a sync that failed as a whole). */
  private full = false;
  /** Prefixes the next apply recomputes: their best route changed. */
  private dirty = new Set<PrefixKey>();
  /** Prefixes the kernel refused last time: recomputed and sent again with the next change (as a whole-table sync would). */
  private failed = new Set<PrefixKey>();
  /** Prefixes the kernel holds from us (for `routes --json` "installed"). */
  installed = new Set<PrefixKey>();

  /** Prefixes the kernel refused at the last sync (for metrics). */
  get failedCount(): number {
    return this.failed.size;
  }

  constructor(
    private readonly fib: Fib,
    private readonly rib: () => LocRib,
    model: NodeBgpConfig,
    private readonly log: Logger,
    private readonly opts: { debounceMs?: number; purgeAfterSeconds?: number; clock?: Clock } = {},
  ) {
    this.model = model;
  }

  private get clock(): Clock {
    return this.opts.clock ?? systemClock;
  }

  /** Starts the stale-route purge timer and applies the current state. */
  start(): void {
    this.purgeTimer = this.clock.setTimeout(() => void this.purge('graceful restart time over'), (this.opts.purgeAfterSeconds ?? 120) * 1000);
    this.schedule();
  }

  /** The model changed: every route is recomputed. */
  setModel(model: NodeBgpConfig): void {
    this.model = model;
    this.filters = null;
    this.schedule();
  }

  /**
   * The Loc-RIB changed: the best routes (or multipath sets) of `keys`, or
   * anything at all when no keys are given (then every route is recomputed).
   */
  schedule(keys?: Iterable<PrefixKey>): void {
    if (keys === undefined) this.full = true;
    else for (const k of keys) this.dirty.add(k);
    this.arm();
  }

  private arm(): void {
    if (this.timer !== null) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      void this.apply();
    }, this.opts.debounceMs ?? 50);
  }

  /** Every peer sent End-of-RIB: what the kernel still holds from before is stale. */
  converged(): void {
    void this.purge('all peers sent End-of-RIB');
  }

  private async apply(): Promise<void> {
    if (this.running !== null) {
      this.again = true;
      return;
    }
    const full = this.full;
    const keys = this.dirty;
    this.full = false;
    this.dirty = new Set();
    this.running = full ? this.syncAll() : this.syncSome(keys);
    try {
      await this.running;
    } catch (e) {
      this.full = true; // what reached the kernel is unknown: the next change recomputes everything
      this.log.error({ err: (e as Error).message }, 'kernel sync failed; will retry on the next change');
    } finally {
      this.running = null;
    }
    if (this.again) {
      this.again = false;
      this.arm();
    }
  }

  // -------------------------------------------------------------------------
  // Routes

  private filtersFor(): { v4: CalicoKernelFilter; v6: CalicoKernelFilter } {
    this.filters ??= { v4: new CalicoKernelFilter(4, this.model.ipv4), v6: new CalicoKernelFilter(6, this.model.ipv6) };
    return this.filters;
  }

  /** Every route: this node's own, then the best learned routes, through the filter; `fib.sync()` sends the differences. */
  private async syncAll(): Promise<void> {
    const { v4, v6 } = this.filtersFor();
    const routes: KernelRoute[] = [];
    const keys: PrefixKey[] = [];
    for (const r of [...v4.local.routes, ...v6.local.routes]) {
      routes.push(r);
      keys.push(keyFromString(r.prefix));
    }
    for (const d of this.rib().destinations()) {
      const b = bestRoute(d, null);
      if (b === null) continue;
      const r = (keyFamily(d.key) === Afi.IPV4 ? v4 : v6).learned(b);
      if ('skip' in r) continue;
      routes.push(r);
      keys.push(d.key);
    }
    const result = await this.fib.sync(routes);
    const installed = new Set<PrefixKey>();
    const failed = new Set<PrefixKey>();
    this.record(result, routes, keys, [], [], installed, failed);
    this.installed = installed;
    this.failed = failed;
  }

  /** The routes of `keys` (and of those the kernel refused last time) only; `fib.update()` sends the differences. */
  private async syncSome(keys: Set<PrefixKey>): Promise<void> {
    for (const k of this.failed) keys.add(k);
    if (keys.size === 0) return;
    const filters = this.filtersFor();
    const routes: KernelRoute[] = [];
    const routeKeys: PrefixKey[] = [];
    const removed: string[] = [];
    const removedKeys: PrefixKey[] = [];
    for (const key of keys) {
      const text = keyToString(key);
      const r = this.routeFor(key, text, keyFamily(key) === Afi.IPV4 ? filters.v4 : filters.v6);
      if (r !== null) {
        routes.push(r);
        routeKeys.push(key);
      } else {
        removed.push(text);
        removedKeys.push(key);
      }
    }
    this.failed = new Set();
    const result = await this.fib.update(routes, removed);
    this.record(result, routes, routeKeys, removed, removedKeys, this.installed, this.failed);
  }

  /** What the kernel should have for one prefix: this node's own route wins, else the best learned route through the filter; null = nothing. */
  private routeFor(key: PrefixKey, text: string, filter: CalicoKernelFilter): KernelRoute | null {
    const local = filter.localRoute(text);
    if (local !== undefined) return local;
    const d = this.rib().get(key);
    const b = d === undefined ? null : bestRoute(d, text);
    if (b === null) return null;
    const r = filter.learned(b);
    return 'skip' in r ? null : r;
  }

  /** Logs what the kernel refused and notes, per prefix, whether the kernel holds our route and whether to try again. */
  private record(result: SyncResult, routes: KernelRoute[], routeKeys: PrefixKey[], removed: string[], removedKeys: PrefixKey[], installed: Set<PrefixKey>, failed: Set<PrefixKey>): void {
    for (const f of result.failed) this.log.error({ prefix: f.prefix, code: f.code, reason: f.message }, f.op === 'install' ? 'kernel route not installed' : 'kernel route not removed');
    if (!this.fib.available) return;
    const refused = new Set(result.failed.map((f) => f.prefix));
    for (let i = 0; i < routes.length; i++) {
      const key = routeKeys[i]!;
      if (refused.has(routes[i]!.prefix)) {
        installed.delete(key);
        failed.add(key);
      } else {
        installed.add(key);
      }
    }
    for (let i = 0; i < removed.length; i++) {
      installed.delete(removedKeys[i]!);
      if (refused.has(removed[i]!)) failed.add(removedKeys[i]!);
    }
  }

  // -------------------------------------------------------------------------
  // Graceful restart and shutdown

  /**
   * Applies a change still waiting for its debounce, and waits for the sync
   * in flight. The purge removes every route of ours this run has not
   * installed: routes learned just before the last End-of-RIB are still in
   * the debounce then, and purging first would delete their stale copies and
   * re-add them a moment later, the forwarding gap graceful restart is for
   * avoiding (RFC 4724 section 4.1: stale routes go once the new ones are in).
   */
  private async settle(): Promise<void> {
    // Bounded: a change that arrives while we wait is applied by its own timer.
    for (let i = 0; i < 3 && (this.timer !== null || this.running !== null); i++) {
      if (this.timer !== null) {
        this.clock.clearTimeout(this.timer);
        this.timer = null;
        await this.apply();
      }
      await this.running;
    }
  }

  private async purge(why: string): Promise<void> {
    if (this.purged) return;
    this.purged = true;
    if (this.purgeTimer !== null) this.clock.clearTimeout(this.purgeTimer);
    await this.settle();
    const r = await this.fib.purgeStale();
    // Logged either way: the line says the purge is over (tests wait for it).
    if (r.removed.length > 0 || r.failed.length > 0) this.log.info({ removed: r.removed.length, failed: r.failed.length, why }, 'removed stale kernel routes from a previous run');
    else this.log.info({ why }, 'no stale kernel routes from a previous run');
  }

  /** Stops; routes stay in the kernel (BIRD's `persist`) so forwarding survives a restart. */
  async close(): Promise<void> {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    if (this.purgeTimer !== null) this.clock.clearTimeout(this.purgeTimer);
    await this.running;
    await this.fib.close({ keepRoutes: true });
  }
}

/** The best route of a destination as the filter takes it; null for none or a local one (local routes come from the model). */
function bestRoute(d: Destination, text: string | null): BestRoute | null {
  if (d.best === null || d.best.source === null) return null;
  const paths = multipathOf(d);
  const hops: string[] = [];
  for (const p of paths) {
    const nh = p.attrs.nextHops[0];
    if (nh !== undefined && (paths.length === 1 || !hops.includes(nh))) hops.push(nh);
  }
  return { prefix: text ?? keyToString(d.key), nextHops: hops };
}
