/**
 * A datastore held in memory for tests and benchmarks: the test edits the key
 * view (`keys`, or `apply()` to tell the listeners too) and says when it is
 * in sync (`setStatus()`), as a real backend would after its list and watch.
 */
import type { Datastore, DatastoreListener, KeyChange, SyncStatus } from '../../src/datastore/types.js';

export class MemoryDatastore implements Datastore {
  private readonly listeners = new Set<DatastoreListener>();

  /** `keys` is used as it is, not copied: the caller may keep editing it. */
  constructor(
    readonly keys = new Map<string, string>(),
    private st: SyncStatus = 'connecting',
  ) {}

  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  snapshot(): ReadonlyMap<string, string> {
    return this.keys;
  }
  status(): SyncStatus {
    return this.st;
  }
  subscribe(l: DatastoreListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  /** Sets the status and tells every listener. */
  setStatus(s: SyncStatus): void {
    this.st = s;
    for (const l of [...this.listeners]) l.status?.(s);
  }
  /** Applies a batch to the key view, then hands it to every listener. */
  apply(batch: KeyChange[]): void {
    for (const c of batch) {
      if (c.value === null) this.keys.delete(c.key);
      else this.keys.set(c.key, c.value);
    }
    for (const l of [...this.listeners]) l.changes?.(batch);
  }
}
