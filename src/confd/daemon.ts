/**
 * The confd replacement: keeps BIRD's configuration files in step with the
 * datastore.
 *
 *   datastore change batch
 *     -> which resources watch one of the changed keys? (none: done, no work)
 *     -> coalesce: wait until the changes pause for `quietMs` (at most `maxDelayMs`)
 *     -> rebuild this node's model; resources whose last successful render
 *        used this very model are skipped (an unrelated change renders nothing)
 *     -> render the dirty resources -> writer: stage, check, rename, reload once
 *
 * Rules that keep the network up (Calico issue #925):
 * - nothing is rendered before the datastore is first in sync, nor while it
 *   is `connecting`/`resyncing` again: a partial key view would remove peers;
 * - a failed check installs nothing; the live files and BIRD stay as they
 *   are, and the batch is retried with backoff;
 * - a failed reload is logged as an error each time and retried with backoff;
 *   a BIRD that is not running at all is a warning, not retried: it reads
 *   the files as they are when it starts.
 *
 * One batch runs at a time; changes arriving meanwhile form the next batch.
 */
import { Backoff, realTimers, type BackoffOptions, type Timers } from '../datastore/backoff.js';
import type { Datastore, KeyChange, SyncStatus } from '../datastore/types.js';
import { waitInSync } from '../datastore/in-sync.js';
import type { Logger } from '../log.js';
import { logger } from '../log.js';
import type { ModelEnv, NodeBgpConfig } from '../model/types.js';
import { deepEqual, ModelWatcher } from '../model/watcher.js';
import { keyMatches, type FlavorFile, type FlavorName, type TemplateResource } from './resources.js';
import {
  describeTarget,
  runReloads,
  writeBatch,
  type BatchResult,
  type PlannedFile,
  type ReloadOutcome,
  type ReloadTarget,
  type WriteOptions,
} from './writer.js';

/** What the daemon needs from the template engine (src/confd/render.ts provides it). */
export interface Renderer {
  files(flavor: FlavorName): readonly FlavorFile[];
  render(name: string, flavor: FlavorName, model: NodeBgpConfig): string;
}

export interface ConfdOptions {
  datastore: Datastore;
  nodeName: string;
  modelEnv?: ModelEnv;
  flavor: FlavorName;
  renderer: Renderer;
  resources: readonly TemplateResource[];
  noop?: boolean;
  syncOnly?: boolean;
  keepStageFile?: boolean;
  /** A batch is written once changes have paused this long (ms). Default 10. */
  quietMs?: number;
  /** ...or at the latest this long after its first change (ms), so that steady churn still gets written. Default 1000. */
  maxDelayMs?: number;
  /** Retry delays after a failed check or reload. Default 1 s doubling to 60 s. */
  backoff?: BackoffOptions;
  timers?: Timers;
  log?: Logger;
  /** Seams for tests: command runner, BIRD configure, timeouts. */
  write?: Pick<WriteOptions, 'runCommand' | 'birdConfigure' | 'checkTimeoutMs' | 'reloadTimeoutMs'>;
  /** Called after every batch (tests, benchmarks). */
  onBatch?: (e: BatchEvent) => void;
}

/**
 * True when a per-family file (BIRD 1.x `bird.cfg` / `bird6*.cfg`) sees the
 * same input in both models: everything but the *other* family's part.
 * A change to IPv4 peers then leaves the bird6 files alone. (The BIRD 1.6
 * templates only read this family's view and the model's scalars;
 * test/confd/daemon.test.ts renders them with the other family altered to
 * keep that true.)
 */
export function sameInputForFamily(a: NodeBgpConfig, b: NodeBgpConfig, family: 4 | 6): boolean {
  if (a === b) return true;
  const own = family === 4 ? 'ipv4' : 'ipv6';
  for (const k of Object.keys(a) as (keyof NodeBgpConfig)[]) {
    if (k === 'ipv4' || k === 'ipv6') continue;
    if (!deepEqual(a[k], b[k])) return false;
  }
  return deepEqual(a[own], b[own]);
}

export interface BatchEvent {
  /** Files rendered in this batch. */
  rendered: string[];
  result: BatchResult;
  /** Milliseconds: model rebuild, render, write path (check and reload included). */
  modelMs: number;
  renderMs: number;
  writeMs: number;
}

export type ConfdState = 'waiting-for-datastore' | 'running' | 'blocked' | 'stopped';

/** Counters for status output, tests and the benchmark. */
export interface ConfdStats {
  batches: number;
  renders: number;
  writes: number;
  reloads: number;
  checkFailures: number;
  /** Files whose rendering threw (their batch was held back whole). */
  renderFailures: number;
  reloadFailures: number;
  /** Reloads skipped because that BIRD was not running (no socket, or nobody listening). */
  notRunning: number;
  /** Change batches from the datastore that touched no resource's keys. */
  ignoredChanges: number;
}

/** The outcome of a one-shot run. */
export interface OnceResult {
  ok: boolean;
  reason?: string;
}

export class ConfdDaemon {
  private readonly log: Logger;
  private readonly timers: Timers;
  private readonly watcher: ModelWatcher;
  private readonly quietMs: number;
  private readonly maxDelayMs: number;
  private unsubscribe: (() => void) | undefined;
  private state: ConfdState = 'stopped';
  private everSynced = false;

  /** Resources waiting for the next batch; `full` = all of them. */
  private readonly dirty = new Set<TemplateResource>();
  private full = false;
  private firstDirtyAt: number | undefined;
  private flushTimer: unknown;
  private running: Promise<void> | undefined;

  /** Per-family files of the flavor (BIRD 1.x): file name -> family. */
  private readonly families = new Map<string, 4 | 6 | null | undefined>();
  /** The model each resource was last successfully written (or found equal) for. */
  private readonly synced = new Map<TemplateResource, NodeBgpConfig>();
  private readonly checkBackoff: Backoff;
  private checkRetryTimer: unknown;
  private readonly retrySet = new Set<TemplateResource>();
  private readonly reloadBackoff: Backoff;
  private reloadRetryTimer: unknown;
  private readonly pendingReloads = new Map<string, ReloadTarget>();
  /** Failures of the last batch (for `runOnce`). */
  private lastFailures: { renders: number; checks: number; reloads: ReloadOutcome[] } = { renders: 0, checks: 0, reloads: [] };

  readonly stats: ConfdStats = { batches: 0, renders: 0, writes: 0, reloads: 0, checkFailures: 0, renderFailures: 0, reloadFailures: 0, notRunning: 0, ignoredChanges: 0 };

  constructor(private readonly opts: ConfdOptions) {
    this.log = opts.log ?? logger('confd');
    this.timers = opts.timers ?? realTimers;
    this.quietMs = opts.quietMs ?? 10;
    this.maxDelayMs = Math.max(opts.maxDelayMs ?? 1000, this.quietMs);
    for (const f of opts.renderer.files(opts.flavor)) this.families.set(f.name, f.family);
    this.watcher = new ModelWatcher(opts.datastore, opts.nodeName, opts.modelEnv ?? {}, this.log);
    this.checkBackoff = new Backoff({ initialMs: 1000, maxMs: 60_000, ...opts.backoff });
    this.reloadBackoff = new Backoff({ initialMs: 1000, maxMs: 60_000, ...opts.backoff });
  }

  /** Model rebuilds so far (the watcher's count). */
  get modelBuilds(): number {
    return this.watcher.stats.builds;
  }

  get currentState(): ConfdState {
    return this.state;
  }

  /** Subscribes to the datastore (which the caller starts). Renders once it is in sync. */
  start(): void {
    if (this.unsubscribe) return;
    this.state = 'waiting-for-datastore';
    this.watcher.start();
    const off = this.opts.datastore.subscribe({
      changes: (batch) => this.onChanges(batch),
      status: (s, detail) => this.onStatus(s, detail),
    });
    this.unsubscribe = () => {
      off();
      this.watcher.stop();
    };
    const mode = this.opts.noop ? ' (noop: nothing is written)' : this.opts.syncOnly ? ' (sync-only: no check, no reload)' : '';
    this.log.info({ flavor: this.opts.flavor, files: this.opts.resources.map((r) => r.dest) }, `confd started for node ${this.opts.nodeName}${mode}`);
    if (this.opts.datastore.status() === 'in-sync') this.onStatus('in-sync');
    else
      this.log.warn(
        'waiting for the datastore to be in sync; the existing configuration files and the running BIRD are left untouched until then',
      );
  }

  /** Stops watching, cancels retries, and waits for a batch in progress. Idempotent. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.state = 'stopped';
    for (const t of [this.flushTimer, this.checkRetryTimer, this.reloadRetryTimer]) if (t !== undefined) this.timers.clearTimeout(t);
    this.flushTimer = this.checkRetryTimer = this.reloadRetryTimer = undefined;
    await this.running;
  }

  /**
   * `--onetime`: waits for the datastore to be in sync (up to `timeoutMs`),
   * renders every resource once, and reports whether all checks and reloads
   * passed. A BIRD that is not running is not a failure (it reads the files
   * when it starts); every other reload failure is.
   */
  async runOnce(timeoutMs: number): Promise<OnceResult> {
    const ds = this.opts.datastore;
    if (!(await waitInSync(ds, timeoutMs))) {
      this.log.error(`datastore not in sync after ${timeoutMs} ms; the existing configuration files and BIRD were left untouched`);
      return { ok: false, reason: 'datastore not in sync' };
    }
    this.state = 'running';
    this.full = true;
    this.watcher.start();
    try {
      await this.batch();
    } finally {
      this.watcher.stop();
      this.state = 'stopped';
    }
    if (this.lastFailures.renders > 0) return { ok: false, reason: 'render failed' };
    if (this.lastFailures.checks > 0) return { ok: false, reason: 'check failed' };
    const bad = this.lastFailures.reloads.filter((r) => !r.ok && !r.notRunning);
    if (bad.length > 0) return { ok: false, reason: 'reload failed' };
    return { ok: true };
  }

  // -------------------------------------------------------------------------
  // Datastore events
  // -------------------------------------------------------------------------

  private onChanges(batch: readonly KeyChange[]): void {
    let hit = false;
    for (const r of this.opts.resources) {
      if (this.dirty.has(r)) {
        hit = true;
        continue;
      }
      for (const c of batch) {
        if (r.keys.some((p) => keyMatches(c.key, p))) {
          this.dirty.add(r);
          hit = true;
          break;
        }
      }
    }
    if (!hit) {
      this.stats.ignoredChanges++;
      return;
    }
    this.schedule();
  }

  private onStatus(s: SyncStatus, detail?: string): void {
    if (this.state === 'stopped') return;
    if (s === 'in-sync') {
      if (this.state !== 'running') {
        this.log.info(this.everSynced ? 'datastore in sync again; rendering resumes' : 'datastore in sync; rendering');
      }
      // First sync, or back after an outage: compare every file once.
      if (this.state !== 'running' || !this.everSynced) this.full = true;
      this.everSynced = true;
      this.state = 'running';
      this.schedule(true);
      return;
    }
    if (this.state === 'running') {
      this.state = 'blocked';
      this.log.warn(
        { detail },
        'datastore connection lost; not rendering until it is in sync again (the configuration files and BIRD are left as they are)',
      );
    }
  }

  // -------------------------------------------------------------------------
  // Batching
  // -------------------------------------------------------------------------

  private schedule(now = false): void {
    if (this.state === 'stopped') return;
    const t = this.timers.now();
    this.firstDirtyAt ??= t;
    if (this.flushTimer !== undefined) this.timers.clearTimeout(this.flushTimer);
    const delay = now ? 0 : Math.max(0, Math.min(this.quietMs, this.firstDirtyAt + this.maxDelayMs - t));
    this.flushTimer = this.timers.setTimeout(() => {
      this.flushTimer = undefined;
      this.flush();
    }, delay);
  }

  private flush(): void {
    if (this.running) return; // the running batch reschedules when it ends
    if (this.opts.datastore.status() !== 'in-sync' || this.state !== 'running') return;
    this.firstDirtyAt = undefined;
    this.running = this.batch()
      .catch((err: unknown) => {
        // I/O errors (disk full, permissions): nothing was installed; try again later.
        this.log.error({ err }, 'writing the configuration failed; retrying');
        this.retryChecks();
      })
      .finally(() => {
        this.running = undefined;
        if (this.state === 'running' && (this.full || this.dirty.size > 0)) this.schedule();
      });
  }

  /** One batch: rebuild the model, render what is dirty, write it. */
  private async batch(): Promise<void> {
    // Files that failed earlier come along with every batch: one batch moves
    // every file to the same model or none (a new bird_aggr.cfg next to an
    // old bird.cfg would describe two different states).
    const targets = this.full ? [...this.opts.resources] : [...new Set([...this.dirty, ...this.retrySet])];
    this.full = false;
    this.dirty.clear();
    if (targets.length === 0) return;

    const t0 = performance.now();
    // The watcher keeps the model current from every change batch (incrementally).
    const update = this.watcher.current();
    const t1 = performance.now();
    if (update === undefined) return; // not in sync after all; the in-sync event brings us back
    const model = update.config;

    const planned: PlannedFile[] = [];
    const failed: TemplateResource[] = [];
    let renderFailures = 0;
    for (const r of targets) {
      const prev = this.synced.get(r);
      if (prev === model) continue;
      const family = this.families.get(r.file);
      if (prev !== undefined && (family === 4 || family === 6) && sameInputForFamily(prev, model, family)) {
        this.synced.set(r, model); // same input, same bytes: no render
        continue;
      }
      try {
        planned.push({ resource: r, content: this.opts.renderer.render(r.file, this.opts.flavor, model) });
        this.stats.renders++;
      } catch (err) {
        this.log.error({ err, file: r.file }, `rendering ${r.file} failed`);
        renderFailures++;
        failed.push(r);
      }
    }
    const t2 = performance.now();
    this.lastFailures = { renders: renderFailures, checks: 0, reloads: [] };
    if (renderFailures > 0) {
      this.stats.renderFailures += renderFailures;
      this.log.error(
        { failed: failed.map((r) => r.dest), heldBack: planned.map((p) => p.resource.dest) },
        'nothing in this batch was installed: every file keeps the state it had, so the files still match each other',
      );
      this.retryChecks([...failed, ...planned.map((p) => p.resource)]);
      return;
    }
    if (planned.length === 0) return;

    const result = await writeBatch(planned, {
      noop: this.opts.noop ?? false,
      syncOnly: this.opts.syncOnly ?? false,
      keepStageFile: this.opts.keepStageFile ?? false,
      allResources: this.opts.resources,
      log: this.log,
      ...this.opts.write,
    });
    const t3 = performance.now();
    this.stats.batches++;
    this.lastFailures = { renders: renderFailures, checks: result.checkFailures.length, reloads: result.reloads };

    if (result.checkFailures.length > 0) {
      this.stats.checkFailures += result.checkFailures.length;
      for (const f of result.checkFailures) {
        this.log.error(
          { dest: f.resource.dest, command: f.command, output: f.output },
          `check failed for ${f.resource.dest}; nothing in this batch was installed, the live files and BIRD are unchanged:\n${f.output}`,
        );
      }
      this.retryChecks(planned.map((p) => p.resource));
    } else {
      this.checkBackoff.reset();
      for (const p of planned) if (!this.opts.noop) this.synced.set(p.resource, model);
      if (this.opts.noop) {
        for (const r of result.changed) this.log.info({ dest: r.dest }, `noop: ${r.dest} would change`);
      }
      this.stats.writes += result.written.length;
      if (result.written.length > 0) {
        this.log.info({ files: result.written.map((r) => r.dest), ms: Math.round(t3 - t0) }, `wrote ${result.written.length} file(s)`);
      }
      this.handleReloads(result.reloads);
    }
    this.opts.onBatch?.({
      rendered: planned.map((p) => p.resource.file),
      result,
      modelMs: t1 - t0,
      renderMs: t2 - t1,
      writeMs: t3 - t2,
    });
  }

  // -------------------------------------------------------------------------
  // Retries
  // -------------------------------------------------------------------------

  private retryChecks(resources: readonly TemplateResource[] = this.opts.resources): void {
    for (const r of resources) {
      this.synced.delete(r);
      this.retrySet.add(r);
    }
    if (this.checkRetryTimer !== undefined || this.state === 'stopped') return;
    const delay = this.checkBackoff.next();
    this.log.warn(`retrying the failed files in ${delay} ms`);
    this.checkRetryTimer = this.timers.setTimeout(() => {
      this.checkRetryTimer = undefined;
      for (const r of this.retrySet) this.dirty.add(r);
      this.retrySet.clear();
      this.schedule(true);
    }, delay);
  }

  private handleReloads(outcomes: readonly ReloadOutcome[]): void {
    for (const o of outcomes) {
      const key = describeTarget(o.target);
      if (o.ok) {
        this.stats.reloads++;
        this.pendingReloads.delete(key);
        this.log.info({ target: key }, `reloaded: ${o.message.split('\n').pop() ?? ''}`);
      } else if (o.notRunning) {
        // Nothing to reload: a BIRD that starts (or restarts) reads the files as they are now.
        // Said every time, at warning level: an IPv4-only node has no bird6, a stopped BIRD is worth seeing.
        this.stats.notRunning++;
        this.pendingReloads.delete(key);
        this.log.warn({ target: key, output: o.message }, `BIRD is not running (${key}); it will read the new files when it starts`);
      } else {
        this.stats.reloadFailures++;
        this.pendingReloads.set(key, o.target);
        this.log.error({ target: key, output: o.message }, `RELOAD FAILED (${key}): BIRD is still running the previous configuration:\n${o.message}`);
      }
    }
    if (this.pendingReloads.size === 0) this.reloadBackoff.reset();
    else this.retryReloads();
  }

  private retryReloads(): void {
    if (this.reloadRetryTimer !== undefined || this.state === 'stopped') return;
    const delay = this.reloadBackoff.next();
    this.log.warn(`retrying the failed reload(s) in ${delay} ms`);
    this.reloadRetryTimer = this.timers.setTimeout(() => {
      this.reloadRetryTimer = undefined;
      const targets = [...this.pendingReloads.values()];
      if (targets.length === 0 || this.state === 'stopped') return;
      void runReloads(targets, { ...this.opts.write }).then((o) => this.handleReloads(o));
    }, delay);
  }
}
