/**
 * Keeps the kernel's routes in step with the Loc-RIB, the way a Calico node
 * running BIRD does (blackholes for local blocks, best routes through
 * Calico's kernel filter; see ../fib/calico-routes.ts). Changes are gathered
 * for `debounceMs` and applied as one diff, so a burst of UPDATEs becomes
 * one batch of netlink messages.
 *
 * Graceful restart (RFC 4724 section 4.1): routes of ours left in the kernel
 * by a previous run keep forwarding while the sessions come back; they are
 * purged once every peer has sent End-of-RIB, or after `purgeAfterSeconds`.
 */
import type { Logger } from 'pino';
import type { Fib } from '../fib/fallback.js';
import { calicoKernelRoutesForNode, type BestRoute } from '../fib/calico-routes.js';
import type { NodeBgpConfig } from '../../model/types.js';
import { multipathOf, type LocRib } from '../rib/loc-rib.js';
import { keyFromString, keyToString, type PrefixKey } from '../rib/prefix-key.js';
import { type Clock, systemClock } from '../session/clock.js';

export class KernelSync {
  private timer: unknown = null;
  private running: Promise<void> | null = null;
  private again = false;
  private purged = false;
  private purgeTimer: unknown = null;
  private model: NodeBgpConfig;
  /** Prefixes the kernel holds from us (for `routes --json` "installed"). */
  installed = new Set<PrefixKey>();

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

  setModel(model: NodeBgpConfig): void {
    this.model = model;
    this.schedule();
  }

  /** The Loc-RIB changed. */
  schedule(): void {
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

  private bestRoutes(): BestRoute[] {
    const out: BestRoute[] = [];
    for (const d of this.rib().destinations()) {
      if (d.best === null || d.best.source === null) continue; // local routes: blackholes come from the blocks
      const hops = new Set<string>();
      for (const p of multipathOf(d)) {
        const nh = p.attrs.nextHops[0];
        if (nh !== undefined) hops.add(nh);
      }
      out.push({ prefix: keyToString(d.key), nextHops: [...hops] });
    }
    return out;
  }

  private async apply(): Promise<void> {
    if (this.running !== null) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      const plan = calicoKernelRoutesForNode(this.model, this.bestRoutes());
      const result = await this.fib.sync(plan.routes);
      for (const f of result.failed) this.log.error({ prefix: f.prefix, code: f.code, reason: f.message }, 'kernel route not installed');
      const installed = new Set<PrefixKey>();
      if (this.fib.available) {
        const failed = new Set(result.failed.map((f) => f.prefix));
        for (const r of plan.routes) if (!failed.has(r.prefix)) installed.add(keyFromString(r.prefix));
      }
      this.installed = installed;
    })();
    try {
      await this.running;
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'kernel sync failed; will retry on the next change');
    } finally {
      this.running = null;
    }
    if (this.again) {
      this.again = false;
      this.schedule();
    }
  }

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
    if (r.removed.length > 0 || r.failed.length > 0) this.log.info({ removed: r.removed.length, failed: r.failed.length, why }, 'removed stale kernel routes from a previous run');
  }

  /** Stops; routes stay in the kernel (BIRD's `persist`) so forwarding survives a restart. */
  async close(): Promise<void> {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    if (this.purgeTimer !== null) this.clock.clearTimeout(this.purgeTimer);
    await this.running;
    await this.fib.close({ keepRoutes: true });
  }
}
