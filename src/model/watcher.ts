/**
 * Keeps one node's peering model current: recomputes it from the datastore's
 * key view whenever the datastore is in sync and reports a change, and tells
 * listeners only when the model really changed (structural equality).
 * The key view is indexed once and then kept current from the change
 * batches, so a change costs work in proportion to the change and to this
 * node's peer count, not to the size of the key view. A change elsewhere in the cluster that does not touch this node's
 * peerings therefore produces no event.
 *
 * Problems are logged once each (with their key or resource name, never a
 * password) and again only after they have gone away and come back.
 */
import type { Logger } from '../log.js';
import { logger } from '../log.js';
import { formatProblem, type Problem } from '../datastore/resources/problem.js';
import type { Datastore, KeyChange, SyncStatus } from '../datastore/types.js';
import { buildFromIndex } from './build.js';
import { KeyIndex } from './key-index.js';
import type { ModelEnv, NodeBgpConfig } from './types.js';

export interface ModelUpdate {
  config: NodeBgpConfig;
  problems: Problem[];
  /** Milliseconds spent building this model. */
  buildMs: number;
}

export type ModelListener = (update: ModelUpdate) => void;

export class ModelWatcher {
  private readonly log: Logger;
  private readonly listeners = new Set<ModelListener>();
  private unsubscribe: (() => void) | undefined;
  private last: ModelUpdate | undefined;
  /** Kept current from change batches; rebuilt from the snapshot after (re)sync. */
  private index: KeyIndex | undefined;
  private logged = new Set<string>();
  /** Recomputations, and how many of them changed the model (benchmarks, status). */
  readonly stats = { builds: 0, changes: 0, lastBuildMs: 0 };

  constructor(
    private readonly ds: Datastore,
    private readonly nodeName: string,
    private readonly env: ModelEnv = {},
    log?: Logger,
  ) {
    this.log = log ?? logger('model');
  }

  /** Subscribes to the datastore; builds the first model at once if it is already in sync. */
  start(): void {
    if (this.unsubscribe) return;
    this.unsubscribe = this.ds.subscribe({
      changes: (batch: KeyChange[]) => {
        if (this.index) this.index.apply(batch);
        this.recompute();
      },
      status: (s: SyncStatus) => {
        if (s === 'in-sync') {
          this.index = undefined;
          this.recompute();
        }
      },
    });
    this.recompute();
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  /** The latest model, or undefined before the datastore was first in sync. */
  current(): ModelUpdate | undefined {
    return this.last;
  }

  /** Registers a listener for model changes; returns a function that removes it. */
  onChange(listener: ModelListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Rebuilds now (normally driven by the datastore). Returns true when the model changed. */
  recompute(): boolean {
    if (this.ds.status() !== 'in-sync') return false;
    const t0 = performance.now();
    this.index ??= KeyIndex.from(this.ds.snapshot(), this.nodeName);
    const { config, problems } = buildFromIndex(this.index, this.env);
    const buildMs = performance.now() - t0;
    this.stats.builds++;
    this.stats.lastBuildMs = buildMs;
    this.logProblems(problems);
    if (this.last && deepEqual(this.last.config, config)) {
      this.last = { ...this.last, problems };
      return false;
    }
    this.last = { config, problems, buildMs };
    this.stats.changes++;
    for (const l of [...this.listeners]) {
      try {
        l(this.last);
      } catch (err) {
        this.log.error({ err }, 'model listener threw');
      }
    }
    return true;
  }

  private logProblems(problems: Problem[]): void {
    const now = new Set<string>();
    for (const p of problems) {
      const text = formatProblem(p);
      now.add(text);
      if (!this.logged.has(text)) this.log.warn({ resource: p.resource }, text);
    }
    this.logged = now;
  }
}

/** Structural equality of plain JSON data, stopping early at shared objects. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (!deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}
