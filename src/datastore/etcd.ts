/**
 * etcd v3 backend.
 *
 * Reads either layout (see ./etcd-keys.ts): the legacy key view itself, or
 * Calico's projectcalico.org/v3 resources converted to it.
 *
 * Cycle: range-read every prefix at one revision R (paged), publish the
 * view, watch every prefix from R+1. Any trouble (stream error, member
 * down, member lost its leader, watch cancelled because R+1 was compacted)
 * ends the cycle: status
 * goes `resyncing`, we wait a capped, jittered, exponential backoff, and
 * start a new cycle whose list is diffed against the published view. We do
 * not let etcd3's watch manager resume on its own: a relist is the only way
 * to know the view is complete again after an outage.
 *
 * Watcher states are explicit (`EtcdWatchState`) and every callback carries
 * the cycle number it belongs to; late callbacks from an abandoned cycle are
 * ignored.
 */
import { readFileSync } from 'node:fs';
import { credentials as grpcCredentials, Metadata } from '@grpc/grpc-js';
import { Etcd3, type IOptions, type IWatchResponse, type IKeyValue, type Watcher } from 'etcd3';
import { logger, type Logger } from '../log.js';
import { Backoff, realTimers, type BackoffOptions, type Timers } from './backoff.js';
import { KeyViewPublisher, OnceLogger, ResourceKeyView, type KeyViewConverter } from './diff.js';
import {
  LEGACY_PREFIXES,
  V3_PREFIXES,
  V3_ROOT,
  checkLegacyValue,
  parseV3Resource,
  prefixEnd,
} from './etcd-keys.js';
import type { Datastore, DatastoreListener, KeyChange, SyncStatus } from './types.js';

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

/** `legacy`: keys as in the design doc; `v3`: Calico v3 resources; `auto`: v3 if any v3 resource exists at the first list. */
export type EtcdLayout = 'legacy' | 'v3' | 'auto';

export interface EtcdDatastoreOptions {
  /** `http(s)://host:port` URLs. */
  endpoints: string[];
  layout?: EtcdLayout;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  username?: string;
  password?: string;
  /** This node (passed to the converter). */
  nodeName?: string;
  /** Resources -> keys; required when the layout can be v3. */
  convert?: KeyViewConverter;
  /** Keys per range request while listing. Default 5000. */
  pageSize?: number;
  /** Deadline of each unary request, ms. Default 10 000. */
  requestTimeoutMs?: number;
  /** v3 layout: wait this long after a change to batch a burst into one conversion. Default 20 ms. */
  coalesceMs?: number;
  backoff?: BackoffOptions;
  timers?: Timers;
  /** Test seam: runs between the list at `revision` and the watch from `revision + 1`. */
  beforeWatch?: (revision: number) => Promise<void>;
  log?: Logger;
}

/**
 * Reads Calico's etcd variables: `ETCD_ENDPOINTS` (comma-separated),
 * `ETCD_CA_CERT_FILE`, `ETCD_CERT_FILE`, `ETCD_KEY_FILE`, `ETCD_USERNAME`,
 * `ETCD_PASSWORD`, plus ours: `CALICO_ETCD_LAYOUT` (legacy|v3|auto).
 */
export function etcdOptionsFromEnv(env: NodeJS.ProcessEnv): EtcdDatastoreOptions {
  const endpoints = (env.ETCD_ENDPOINTS ?? 'http://127.0.0.1:2379')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const layout = (env.CALICO_ETCD_LAYOUT ?? 'auto').toLowerCase();
  if (layout !== 'legacy' && layout !== 'v3' && layout !== 'auto') {
    throw new Error(`CALICO_ETCD_LAYOUT must be legacy, v3 or auto, not "${layout}"`);
  }
  const opt = (v: string | undefined) => (v === undefined || v === '' ? undefined : v);
  return {
    endpoints,
    layout,
    caFile: opt(env.ETCD_CA_CERT_FILE),
    certFile: opt(env.ETCD_CERT_FILE),
    keyFile: opt(env.ETCD_KEY_FILE),
    username: opt(env.ETCD_USERNAME),
    password: opt(env.ETCD_PASSWORD),
    nodeName: opt(env.NODENAME),
  };
}

/**
 * etcd's require-leader flag (clientv3.WithRequireLeader, what Calico uses):
 * a member that loses its leader cancels our watch stream with "no leader"
 * instead of keeping it open and silent. Sent as call metadata on streams.
 */
const requireLeader = grpcCredentials.createFromMetadataGenerator((_params, callback) => {
  const md = new Metadata();
  md.set('hasleader', 'true');
  callback(null, md);
});

/** Builds the etcd3 client options (TLS, auth, deadlines, require-leader). */
export function etcdClientOptions(o: EtcdDatastoreOptions): IOptions {
  const timeout = o.requestTimeoutMs ?? 10_000;
  const opts: IOptions = {
    hosts: o.endpoints,
    dialTimeout: timeout,
    defaultCallOptions: (ctx) => (ctx.isStream ? { credentials: requireLeader } : { deadline: Date.now() + timeout }),
    grpcOptions: {
      // Notice a dead peer on an idle watch stream (no RST, e.g. a partition).
      'grpc.keepalive_time_ms': 15_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.keepalive_permit_without_calls': 1,
      // Large initial lists: the default 4 MiB cap is too small for a page of big values.
      'grpc.max_receive_message_length': 256 * 1024 * 1024,
    },
  };
  if (o.caFile !== undefined || o.certFile !== undefined || o.keyFile !== undefined) {
    if (o.caFile === undefined) throw new Error('ETCD_CERT_FILE/ETCD_KEY_FILE need ETCD_CA_CERT_FILE too');
    if ((o.certFile === undefined) !== (o.keyFile === undefined)) {
      throw new Error('ETCD_CERT_FILE and ETCD_KEY_FILE go together');
    }
    opts.credentials = {
      rootCertificate: readFileSync(o.caFile),
      ...(o.certFile !== undefined ? { certChain: readFileSync(o.certFile) } : {}),
      ...(o.keyFile !== undefined ? { privateKey: readFileSync(o.keyFile) } : {}),
    };
  }
  if (o.username !== undefined) opts.auth = { username: o.username, password: o.password ?? '' };
  return opts;
}

// ---------------------------------------------------------------------------
// Backend
// ---------------------------------------------------------------------------

/** Where the watch loop is. */
export type EtcdWatchState = 'idle' | 'listing' | 'watching' | 'backoff' | 'stopped';

interface ListResult {
  revision: number;
  kvs: Array<[string, string]>;
}

export class EtcdDatastore implements Datastore {
  private readonly log: Logger;
  private readonly pub: KeyViewPublisher;
  private readonly once: OnceLogger;
  private readonly timers: Timers;
  private readonly backoff: Backoff;
  private client: Etcd3 | undefined;
  private state: EtcdWatchState = 'idle';
  private cycle = 0;
  private watchers: Watcher[] = [];
  private retryTimer: unknown;
  private flushTimer: unknown;
  private layout: 'legacy' | 'v3' | undefined;
  private everSynced = false;
  /** v3 layout: resources by etcd key. */
  private resources: ResourceKeyView | undefined;
  /** v3 layout: the JSON each held resource was parsed from. */
  private readonly rawV3 = new Map<string, string>();
  /** v3 layout: legacy keys that pass through (block affinities). */
  private readonly passthrough = new Map<string, string>();
  /** Statistics for benchmarks and status. */
  readonly stats = { lists: 0, lastListMs: 0, lastListKeys: 0, lastConvertMs: 0, revision: 0 };

  constructor(private readonly opts: EtcdDatastoreOptions) {
    this.log = opts.log ?? logger('datastore-etcd');
    this.pub = new KeyViewPublisher(this.log);
    this.once = new OnceLogger(this.log);
    this.timers = opts.timers ?? realTimers;
    this.backoff = new Backoff(opts.backoff);
    if (opts.layout === 'legacy') this.layout = 'legacy';
    if (opts.layout === 'v3') this.layout = 'v3';
    if (opts.layout !== 'legacy' && opts.convert === undefined) {
      throw new Error('etcd layout v3/auto needs a resource converter');
    }
  }

  /** Current loop state (tests, status output). */
  watchState(): EtcdWatchState {
    return this.state;
  }

  async start(): Promise<void> {
    if (this.state !== 'idle') return;
    this.client = new Etcd3(etcdClientOptions(this.opts));
    this.log.info({ endpoints: this.opts.endpoints, layout: this.opts.layout ?? 'auto' }, 'starting etcd datastore');
    void this.runCycle();
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    this.cycle++;
    this.timers.clearTimeout(this.retryTimer);
    this.timers.clearTimeout(this.flushTimer);
    const ws = this.watchers;
    this.watchers = [];
    await Promise.allSettled(ws.map((w) => w.cancel()));
    this.client?.close();
  }

  snapshot(): ReadonlyMap<string, string> {
    return this.pub.snapshot();
  }

  status(): SyncStatus {
    return this.pub.status();
  }

  subscribe(listener: DatastoreListener): () => void {
    return this.pub.subscribe(listener);
  }

  // -------------------------------------------------------------------------
  // Cycle: list, publish, watch
  // -------------------------------------------------------------------------

  private async runCycle(): Promise<void> {
    if (this.state === 'stopped') return;
    const cycle = ++this.cycle;
    this.state = 'listing';
    try {
      const t0 = performance.now();
      const prefixes = this.prefixes();
      const list = await this.listAll(prefixes);
      if (cycle !== this.cycle) return;
      if (this.layout === undefined) {
        this.layout = list.kvs.some(([k]) => k.startsWith(V3_ROOT)) ? 'v3' : 'legacy';
        this.log.info({ layout: this.layout }, 'detected etcd layout');
      }
      this.loadList(list);
      this.stats.lists++;
      this.stats.lastListMs = performance.now() - t0;
      this.stats.lastListKeys = list.kvs.length;
      this.stats.revision = list.revision;
      this.log.debug({ keys: list.kvs.length, revision: list.revision, ms: this.stats.lastListMs }, 'listed etcd');

      if (this.opts.beforeWatch) await this.opts.beforeWatch(list.revision);
      if (cycle !== this.cycle) return;
      this.startWatchers(cycle, this.layout === 'v3' ? V3_PREFIXES : LEGACY_PREFIXES, list.revision + 1);
    } catch (err) {
      this.fail(cycle, err);
    }
  }

  private prefixes(): readonly string[] {
    if (this.layout === 'legacy') return LEGACY_PREFIXES;
    if (this.layout === 'v3') return V3_PREFIXES;
    return [...new Set([...V3_PREFIXES, ...LEGACY_PREFIXES])];
  }

  /** Paged range reads of every prefix, all at the revision of the first page. */
  private async listAll(prefixes: readonly string[]): Promise<ListResult> {
    const kv = this.client!.kv;
    const limit = this.opts.pageSize ?? 5000;
    let revision = 0;
    const kvs: Array<[string, string]> = [];
    for (const prefix of prefixes) {
      const end = prefixEnd(prefix);
      let start: Buffer = Buffer.from(prefix);
      for (;;) {
        const res = await kv.range({ key: start, range_end: end, limit, revision: revision || undefined });
        if (revision === 0) revision = Number(res.header.revision);
        for (const item of res.kvs) kvs.push([item.key.toString(), item.value.toString()]);
        if (!res.more || res.kvs.length === 0) break;
        start = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.from([0])]);
      }
    }
    return { revision, kvs };
  }

  /** Turns a complete list into the view and publishes the diff. */
  private loadList(list: ListResult): void {
    if (this.layout === 'v3') {
      this.resources ??= new ResourceKeyView(this.opts.convert!, { nodeName: this.opts.nodeName }, this.log);
      // Unchanged values keep their parsed objects: the conversion memoises
      // by object identity, so a relist of an unchanged store is cheap.
      const listed = new Set<string>();
      for (const [k, v] of list.kvs) {
        listed.add(k);
        this.applyV3(k, v);
      }
      for (const k of [...this.resources.resources.keys()]) if (!listed.has(k)) this.applyV3(k, null);
      for (const k of [...this.passthrough.keys()]) if (!listed.has(k)) this.applyV3(k, null);
      this.timers.clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
      this.pub.replace(this.v3View());
      this.stats.lastConvertMs = this.resources.lastConvertMs;
    } else {
      const view = new Map<string, string>();
      for (const [k, v] of list.kvs) {
        if (!LEGACY_PREFIXES.some((p) => k.startsWith(p))) continue;
        if (this.legacyOk(k, v)) view.set(k, v);
      }
      this.pub.replace(view);
    }
  }

  private startWatchers(cycle: number, prefixes: readonly string[], fromRevision: number): void {
    const client = this.client!;
    let connected = 0;
    for (const prefix of prefixes) {
      const w = client.watch().prefix(prefix).startRevision(String(fromRevision)).watcher();
      this.watchers.push(w);
      w.on('connected', () => {
        if (cycle !== this.cycle) return;
        if (++connected === prefixes.length) this.synced();
      });
      w.on('data', (res: IWatchResponse) => {
        if (cycle !== this.cycle) return;
        this.onWatchData(res);
      });
      w.on('disconnected', (err: unknown) => this.fail(cycle, err));
      w.on('error', (err: unknown) => this.fail(cycle, err));
      w.on('end', () => this.fail(cycle, new Error('watch ended')));
    }
    this.state = 'watching';
  }

  private synced(): void {
    this.backoff.reset();
    this.everSynced = true;
    this.pub.setStatus('in-sync');
  }

  /** Ends the current cycle (once) and schedules the next one. */
  private fail(cycle: number, err: unknown): void {
    if (cycle !== this.cycle || this.state === 'stopped') return;
    this.cycle++;
    const ws = this.watchers;
    this.watchers = [];
    for (const w of ws) {
      w.removeAllListeners();
      w.on('error', () => {}); // late errors from a cancelled watcher are expected
      void w.cancel().catch(() => {});
    }
    const detail = errText(err);
    const delay = this.backoff.next();
    this.state = 'backoff';
    this.pub.setStatus(this.everSynced ? 'resyncing' : 'connecting', detail);
    this.log.warn({ err: detail, retryInMs: delay }, 'etcd watch broken, will relist');
    this.retryTimer = this.timers.setTimeout(() => void this.runCycle(), delay);
  }

  // -------------------------------------------------------------------------
  // Events
  // -------------------------------------------------------------------------

  private onWatchData(res: IWatchResponse): void {
    if (res.events.length === 0) return;
    this.stats.revision = Number(res.header.revision);
    if (this.layout === 'v3') {
      for (const ev of res.events) this.applyV3(ev.kv.key.toString(), ev.type === 'Put' ? ev.kv.value.toString() : null);
      this.scheduleFlush();
      return;
    }
    const batch: KeyChange[] = [];
    for (const ev of res.events) {
      const key = ev.kv.key.toString();
      if (ev.type === 'Delete') {
        this.once.forget(key);
        batch.push({ key, value: null });
        continue;
      }
      const value = (ev.kv as IKeyValue).value.toString();
      // A value that turns bad is dropped from the view, like a deletion.
      batch.push({ key, value: this.legacyOk(key, value) ? value : null });
    }
    this.pub.apply(batch);
  }

  private legacyOk(key: string, value: string): boolean {
    const bad = checkLegacyValue(key, value);
    if (bad === undefined) {
      this.once.forget(key);
      return true;
    }
    this.once.warn(key, bad, { key });
    return false;
  }

  /** v3 layout: records one key's new value (null = deleted). */
  private applyV3(key: string, value: string | null): void {
    if (key.startsWith(V3_ROOT)) {
      if (value === null) {
        this.resources!.resources.delete(key);
        this.rawV3.delete(key);
        this.once.forget(key);
        return;
      }
      if (this.rawV3.get(key) === value && this.resources!.resources.has(key)) return;
      const parsed = parseV3Resource(key, value);
      if (parsed.ok) {
        this.resources!.resources.set(key, parsed.resource);
        this.rawV3.set(key, value);
        this.once.forget(key);
      } else {
        this.resources!.resources.delete(key);
        this.rawV3.delete(key);
        this.once.warn(key, parsed.reason, { key });
      }
      return;
    }
    if (value !== null && this.legacyOk(key, value)) this.passthrough.set(key, value);
    else {
      this.passthrough.delete(key);
      if (value === null) this.once.forget(key);
    }
  }

  private scheduleFlush(): void {
    if (this.flushTimer !== undefined) return;
    this.flushTimer = this.timers.setTimeout(() => {
      this.flushTimer = undefined;
      if (this.state === 'stopped') return;
      this.pub.replace(this.v3View());
    }, this.opts.coalesceMs ?? 20);
  }

  private v3View(): Map<string, string> {
    const view = this.resources!.keys();
    for (const [k, v] of this.passthrough) if (!view.has(k)) view.set(k, v);
    return view;
  }
}

function errText(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}
