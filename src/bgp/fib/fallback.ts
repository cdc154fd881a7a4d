/**
 * The speaker's handle on the kernel FIB, which may be missing: without the
 * netlink addon (not built, not Linux) or without the right to open the
 * socket, the speaker keeps running, peers and reflects routes, and simply
 * installs nothing. It says so once, clearly, at start.
 */
import { KernelFib, type KernelFibOptions, type KernelRoute, type RouteFailure, type SyncResult } from './kernel.js';

/** What the speaker needs from a FIB; `KernelFib` and `DisabledFib` both provide it. */
export interface Fib {
  /** False when routes are not programmed (then `reason` says why). */
  readonly available: boolean;
  readonly reason: string | null;
  /** Routes of ours a previous run left in the kernel, not yet purged (graceful restart). */
  staleCount(): number;
  /** Makes our routes exactly `routes` (see `KernelFib.sync`). */
  sync(routes: Iterable<KernelRoute>): Promise<SyncResult>;
  /** Installs `routes` where they changed and removes ours for `removed`, looking at nothing else (see `KernelFib.update`). */
  update(routes: Iterable<KernelRoute>, removed: Iterable<string>): Promise<SyncResult>;
  purgeStale(): Promise<{ removed: string[]; failed: RouteFailure[] }>;
  close(opts?: { keepRoutes?: boolean }): Promise<void>;
}

/** Installs nothing; every call succeeds at once. */
export class DisabledFib implements Fib {
  readonly available = false;
  constructor(readonly reason: string) {}
  staleCount(): number {
    return 0;
  }
  async sync(_routes: Iterable<KernelRoute>): Promise<SyncResult> {
    return { installed: 0, removed: 0, unchanged: 0, failed: [] };
  }
  async update(_routes: Iterable<KernelRoute>, _removed: Iterable<string>): Promise<SyncResult> {
    return { installed: 0, removed: 0, unchanged: 0, failed: [] };
  }
  async purgeStale(): Promise<{ removed: string[]; failed: RouteFailure[] }> {
    return { removed: [], failed: [] };
  }
  async close(_opts?: { keepRoutes?: boolean }): Promise<void> {}
}

class AvailableFib implements Fib {
  readonly available = true;
  readonly reason = null;
  constructor(readonly kernel: KernelFib) {}
  staleCount(): number {
    return this.kernel.staleCount();
  }
  sync(routes: Iterable<KernelRoute>): Promise<SyncResult> {
    return this.kernel.sync(routes);
  }
  update(routes: Iterable<KernelRoute>, removed: Iterable<string>): Promise<SyncResult> {
    return this.kernel.update(routes, removed);
  }
  purgeStale(): Promise<{ removed: string[]; failed: RouteFailure[] }> {
    return this.kernel.purgeStale();
  }
  close(opts?: { keepRoutes?: boolean }): Promise<void> {
    return this.kernel.close(opts);
  }
}

/** The little of a logger this needs (pino's `Logger` fits). */
export interface FibLog {
  error(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/**
 * Opens the kernel FIB, or returns a `DisabledFib` with the reason (logged
 * once as an error). Never throws.
 */
export async function openKernelFib(opts: KernelFibOptions = {}, log?: FibLog): Promise<Fib> {
  try {
    const kernel = await KernelFib.open(opts);
    log?.info({ protocol: kernel.protocol, table: kernel.table, metric: kernel.metric, stale: kernel.staleCount() }, 'kernel routes: programming over rtnetlink');
    return new AvailableFib(kernel);
  } catch (e) {
    const reason = (e as Error).message;
    log?.error({ reason }, 'kernel routes DISABLED: the speaker runs without installing routes into the kernel');
    return new DisabledFib(reason);
  }
}
