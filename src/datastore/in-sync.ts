/** Waiting for a datastore's first complete view. */
import type { Datastore } from './types.js';

/**
 * Resolves true once `ds` reports `in-sync` (at once if it already does),
 * false after `timeoutMs`. The timer is a plain (ref'd) one on purpose: it
 * holds the process open while a command waits, where the datastores' own
 * retry timers are unref'd.
 */
export function waitInSync(ds: Datastore, timeoutMs: number): Promise<boolean> {
  if (ds.status() === 'in-sync') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      off();
      resolve(false);
    }, timeoutMs);
    const off = ds.subscribe({
      status: (s) => {
        if (s === 'in-sync') {
          clearTimeout(timer);
          off();
          resolve(true);
        }
      },
    });
  });
}
