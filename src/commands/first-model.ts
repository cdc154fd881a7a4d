/**
 * Waiting for the first usable model at start.
 *
 * The datastore backends retry on timers that are unref'd (so that a stopped
 * backend never holds a process open). While a daemon awaits its first model,
 * those timers may be the only thing pending: Node would then drain its event
 * loop and exit silently in the middle of an await (exit status 13, "unsettled
 * top-level await"). A node that reboots while etcd or the API server is
 * unreachable must instead come up, keep retrying and say so. This helper
 * holds the loop with an explicit timer for exactly as long as it waits, and
 * logs why it is still waiting at a steady pace.
 */
import type { Logger } from '../log.js';
import type { ModelUpdate, ModelWatcher } from '../model/watcher.js';

export interface FirstModelOptions {
  /** Is this model good enough to start with? The reason it is not, or null. */
  unusable(update: ModelUpdate): string | null;
  /** Why we wait while the datastore is not in sync yet (for the log). */
  waitingFor(): string;
  /** How often to repeat the waiting line (ms, default 30 s). */
  repeatMs?: number;
  /** Resolves the wait with null (shutdown requested). */
  signal?: AbortSignal;
}

/**
 * Resolves with the first model `unusable` accepts, or null when `signal`
 * aborts first. The watcher must not be started yet; this starts it.
 */
export function waitForFirstModel(watcher: ModelWatcher, log: Logger, opts: FirstModelOptions): Promise<ModelUpdate | null> {
  return new Promise((resolve) => {
    let lastReason: string | null = null;
    const t0 = Date.now();
    const finish = (u: ModelUpdate | null): void => {
      clearInterval(keepAlive);
      off();
      opts.signal?.removeEventListener('abort', onAbort);
      resolve(u);
    };
    const consider = (u: ModelUpdate): void => {
      const reason = opts.unusable(u);
      if (reason === null) return finish(u);
      if (reason !== lastReason) log.warn({ reason }, `not starting yet: ${reason}; waiting for the datastore to change`);
      lastReason = reason;
    };
    const onAbort = (): void => finish(null);
    // This interval is what keeps the process alive while we wait (see the file comment).
    const keepAlive = setInterval(() => {
      const waited = Math.round((Date.now() - t0) / 1000);
      log.warn({ waitedSeconds: waited }, `still waiting after ${waited} s: ${lastReason ?? opts.waitingFor()}`);
    }, opts.repeatMs ?? 30_000);
    const off = watcher.onChange(consider);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.signal?.aborted) return finish(null);
    watcher.start();
    const now = watcher.current();
    if (now !== undefined) consider(now);
  });
}
