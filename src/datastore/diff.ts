/**
 * Key view plumbing shared by the watching backends:
 * - `diffKeyViews`: what changed between two complete key views;
 * - `KeyViewPublisher`: the snapshot + status + listeners half of the
 *   `Datastore` contract, so each backend only decides *what* the view is;
 * - `ResourceKeyView`: a resource map re-converted to keys on each change
 *   (the converter is injected: `resourcesToKeyView` from
 *   `resources/to-keys.ts` in production).
 */
import type { DatastoreListener, KeyChange, Resource, SyncStatus } from './types.js';
import type { Logger } from '../log.js';

// ---------------------------------------------------------------------------
// Diff
// ---------------------------------------------------------------------------

/** Changes that turn `prev` into `next`, sorted by key. */
export function diffKeyViews(prev: ReadonlyMap<string, string>, next: ReadonlyMap<string, string>): KeyChange[] {
  const out: KeyChange[] = [];
  for (const [key, value] of next) {
    if (prev.get(key) !== value) out.push({ key, value });
  }
  for (const key of prev.keys()) {
    if (!next.has(key)) out.push({ key, value: null });
  }
  out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return out;
}

// ---------------------------------------------------------------------------
// Publisher
// ---------------------------------------------------------------------------

/**
 * Holds the published snapshot and status and fans them out. A listener
 * that throws is logged and does not stop the others.
 */
export class KeyViewPublisher {
  private view = new Map<string, string>();
  private state: SyncStatus = 'connecting';
  private readonly listeners = new Set<DatastoreListener>();

  constructor(private readonly log: Logger) {}

  snapshot(): ReadonlyMap<string, string> {
    return this.view;
  }

  status(): SyncStatus {
    return this.state;
  }

  subscribe(listener: DatastoreListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Replaces the whole view; emits the diff (if any). Returns the diff. */
  replace(next: Map<string, string>): KeyChange[] {
    const changes = diffKeyViews(this.view, next);
    this.view = next;
    this.emitChanges(changes);
    return changes;
  }

  /** Applies a batch of changes (dropping no-ops); emits what really changed. */
  apply(batch: Iterable<KeyChange>): KeyChange[] {
    const changes: KeyChange[] = [];
    for (const c of batch) {
      const old = this.view.get(c.key);
      if (c.value === null) {
        if (old === undefined) continue;
        this.view.delete(c.key);
      } else {
        if (old === c.value) continue;
        this.view.set(c.key, c.value);
      }
      changes.push(c);
    }
    this.emitChanges(changes);
    return changes;
  }

  setStatus(status: SyncStatus, detail?: string): void {
    if (status === this.state) return;
    this.state = status;
    this.log.info({ status, detail }, 'datastore status');
    for (const l of [...this.listeners]) {
      try {
        l.status?.(status, detail);
      } catch (err) {
        this.log.error({ err }, 'datastore status listener threw');
      }
    }
  }

  private emitChanges(changes: KeyChange[]): void {
    if (changes.length === 0) return;
    for (const l of [...this.listeners]) {
      try {
        l.changes?.(changes);
      } catch (err) {
        this.log.error({ err }, 'datastore change listener threw');
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Resources -> key view
// ---------------------------------------------------------------------------

/** Options the converter takes (same as `resourcesToKeyView`'s). */
export interface ConvertOptions {
  nodeName?: string;
  usePodCidr?: boolean;
}

/**
 * The pure resources -> legacy keys conversion. `problems` are reported
 * per conversion; we log each distinct one once.
 */
export type KeyViewConverter = (
  resources: Iterable<Resource>,
  opts: ConvertOptions,
) => { keys: Map<string, string>; problems: readonly unknown[] };

/**
 * A resource map (keyed by whatever identifies a resource in the backend:
 * etcd key, `kind/namespace/name`) converted to a key view on demand.
 * Conversion problems are logged once each, until they go away.
 */
export class ResourceKeyView {
  readonly resources = new Map<string, Resource>();
  private logged = new Set<string>();
  /** Duration of the last conversion, ms (benchmarks). */
  lastConvertMs = 0;
  private lastKeys = new Map<string, string>();

  constructor(
    private readonly convert: KeyViewConverter,
    private readonly opts: ConvertOptions,
    private readonly log: Logger,
  ) {}

  /**
   * Converts the current resource set to keys. If the converter throws, logs
   * it and returns a copy of the last good result instead.
   */
  keys(): Map<string, string> {
    const t0 = performance.now();
    let out: ReturnType<KeyViewConverter>;
    try {
      out = this.convert(this.resources.values(), this.opts);
    } catch (err) {
      // A bug in the conversion must not take the watcher down: keep the last good view.
      this.log.error({ err }, 'resource conversion failed; keeping the previous key view');
      return new Map(this.lastKeys);
    }
    this.lastConvertMs = performance.now() - t0;
    const { keys, problems } = out;
    this.lastKeys = keys;
    const now = new Set<string>();
    for (const p of problems) {
      const text = describeProblem(p);
      now.add(text);
      if (!this.logged.has(text)) this.log.warn({ problem: p }, 'skipping bad resource data');
    }
    this.logged = now;
    return keys;
  }
}

function describeProblem(p: unknown): string {
  if (typeof p === 'string') return p;
  try {
    return JSON.stringify(p);
  } catch {
    return String(p);
  }
}

/**
 * Logs a message once per distinct (id, reason) until `forget(id)`; for
 * bad values/resources that the backend itself rejects (bad JSON, ...).
 */
export class OnceLogger {
  private readonly seen = new Map<string, string>();

  constructor(private readonly log: Logger) {}

  warn(id: string, reason: string, fields: Record<string, unknown> = {}): void {
    if (this.seen.get(id) === reason) return;
    this.seen.set(id, reason);
    this.log.warn({ ...fields, reason }, 'skipping bad datastore entry');
  }

  forget(id: string): void {
    this.seen.delete(id);
  }

  clear(): void {
    this.seen.clear();
  }
}
