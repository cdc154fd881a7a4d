/**
 * List/watch of one Kubernetes collection, the reflector way:
 *
 *   LIST (paged: limit + continue)  -> reset(items), RV = list RV, synced
 *   WATCH from RV (bookmarks on)    -> event(...) per ADDED/MODIFIED/DELETED,
 *                                      RV follows every event and BOOKMARK
 *   stream ends cleanly (server timeout)      -> WATCH again from RV
 *   410 Gone (HTTP status or ERROR event)     -> not synced, LIST again now
 *   connection lost, HTTP error, bad line,
 *   silence past idleTimeoutMs                -> not synced, backoff, LIST again
 *
 * After a connection loss we relist rather than resume: only a complete list
 * tells us the collection is current again, and the consumers are waiting
 * for exactly that (`synced(true)`).
 */
import type { IncomingMessage } from 'node:http';
import type { Logger } from '../log.js';
import { Backoff, realTimers, type BackoffOptions, type Timers } from './backoff.js';
import { readBody, type K8sTransport } from './kubernetes-http.js';
import type { Resource } from './types.js';

/** Where the loop is. */
export type ListWatchState = 'idle' | 'listing' | 'watching' | 'backoff' | 'stopped';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface CollectionSpec {
  /** Short name for logs and ids ("nodes", "bgppeers"). */
  name: string;
  /** Collection path, e.g. /api/v1/nodes. */
  path: string;
  /** Filled into objects that lack them (core list items do). */
  apiVersion: string;
  kind: string;
  /**
   * 403/404 on LIST means "none": the collection counts as synced and empty
   * and is polled again after `absentRetryMs`. For what a cluster may
   * legitimately not grant or not have (Secrets RBAC, an uninstalled CRD),
   * so that it cannot hold the whole view out of sync.
   */
  optional?: boolean;
}

export interface ListWatchHandlers {
  /** A complete list: replace everything held for this collection. */
  reset(items: Resource[]): void;
  event(type: WatchEventType, obj: Resource): void;
  /** true once listed and watching; false when the view of this collection may be stale. */
  synced(synced: boolean, detail?: string): void;
  /** An object the backend cannot use (no name, not an object). Never includes secret data. */
  bad(reason: string, name: string | undefined): void;
}

export interface ListWatchOptions {
  timers?: Timers;
  backoff?: BackoffOptions;
  /** Items per LIST page. Default 500. */
  pageSize?: number;
  /** Asked of the server per watch; randomised in [t, 2t) like client-go. Default 300. */
  watchTimeoutSeconds?: number;
  /** Abort a watch that sends nothing (not even a bookmark) for this long. Default: 2 × (2 × watchTimeoutSeconds) s. */
  idleTimeoutMs?: number;
  random?: () => number;
  /** Deadline of each LIST page, ms. Default 60 000. */
  requestTimeoutMs?: number;
  /** Poll interval for an optional collection that answered 403/404. Default 60 000. */
  absentRetryMs?: number;
  log: Logger;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** How a watch stream ended: cleanly, with 410 Gone, or with an error. */
type WatchOutcome = { kind: 'end' } | { kind: 'gone'; why: string } | { kind: 'error'; err: unknown };

export class ListWatch {
  private state: ListWatchState = 'idle';
  private rv = '';
  private run = 0;
  private abort: AbortController | undefined;
  private timer: unknown;
  private idleTimer: unknown;
  private readonly timers: Timers;
  private readonly backoff: Backoff;
  private readonly random: () => number;
  private isSynced = false;
  private lastError: string | undefined;
  /** Counters for tests and status. */
  readonly stats = { lists: 0, watches: 0, gone: 0, drops: 0 };

  constructor(
    private readonly http: K8sTransport,
    readonly spec: CollectionSpec,
    private readonly on: ListWatchHandlers,
    private readonly opts: ListWatchOptions,
  ) {
    this.timers = opts.timers ?? realTimers;
    this.random = opts.random ?? Math.random;
    this.backoff = new Backoff({ random: this.random, ...opts.backoff });
  }

  get watchState(): ListWatchState {
    return this.state;
  }

  get resourceVersion(): string {
    return this.rv;
  }

  start(): void {
    if (this.state !== 'idle') return;
    void this.list();
  }

  stop(): void {
    this.state = 'stopped';
    this.run++;
    this.timers.clearTimeout(this.timer);
    this.timers.clearTimeout(this.idleTimer);
    this.abort?.abort();
  }

  // -------------------------------------------------------------------------
  // LIST
  // -------------------------------------------------------------------------

  private async list(): Promise<void> {
    if (this.state === 'stopped') return;
    const run = ++this.run;
    this.state = 'listing';
    this.abort = new AbortController();
    const abort = this.abort;
    const signal = abort.signal;
    // A LIST page that never completes (server stuck, half-open socket).
    const requestMs = this.opts.requestTimeoutMs ?? 60_000;
    let pageTimer: unknown;
    const armPage = () => {
      this.timers.clearTimeout(pageTimer);
      pageTimer = this.timers.setTimeout(() => abort.abort(new Error(`LIST page took over ${requestMs} ms`)), requestMs);
    };
    try {
      const items: Resource[] = [];
      let cont = '';
      let rv = '';
      for (;;) {
        const query: Record<string, string> = { limit: String(this.opts.pageSize ?? 500) };
        if (cont) query.continue = cont;
        armPage();
        const res = await this.http.get(this.spec.path, query, signal);
        const text = await readBody(res);
        this.timers.clearTimeout(pageTimer);
        if (run !== this.run) return;
        if (res.statusCode !== 200) throw new HttpError(res.statusCode ?? 0, statusMessage(text));
        const body = JSON.parse(text) as { metadata?: { resourceVersion?: string; continue?: string }; items?: unknown[] };
        for (const raw of body.items ?? []) {
          const r = this.normalise(raw);
          if (r) items.push(r);
        }
        rv = body.metadata?.resourceVersion ?? '';
        cont = body.metadata?.continue ?? '';
        if (!cont) break;
      }
      if (run !== this.run) return;
      this.stats.lists++;
      this.rv = rv;
      this.on.reset(items);
      this.lastError = undefined;
      this.setSynced(true);
      this.backoff.reset();
      void this.watch();
    } catch (err) {
      this.timers.clearTimeout(pageTimer);
      if (run !== this.run) return;
      // A continue token that expired mid-list (410): start the list over, now.
      if (err instanceof HttpError && err.status === 410) {
        this.stats.gone++;
        void this.list();
        return;
      }
      if (this.spec.optional && err instanceof HttpError && (err.status === 403 || err.status === 404)) {
        this.absent(err);
        return;
      }
      this.retry(err);
    }
  }

  /** An optional collection we may not read or that does not exist: empty, synced, poll later. */
  private absent(err: HttpError): void {
    const detail = `${err.status} ${err.message}`;
    if (detail !== this.lastError) {
      this.opts.log.warn({ collection: this.spec.name, err: detail }, 'collection not readable; treating it as empty');
    }
    this.lastError = detail;
    this.rv = '';
    this.on.reset([]);
    this.setSynced(true);
    this.state = 'backoff';
    this.timers.clearTimeout(this.timer);
    this.timer = this.timers.setTimeout(() => void this.list(), this.opts.absentRetryMs ?? 60_000);
  }

  // -------------------------------------------------------------------------
  // WATCH
  // -------------------------------------------------------------------------

  private async watch(): Promise<void> {
    if (this.state === 'stopped') return;
    const run = ++this.run;
    this.state = 'watching';
    this.stats.watches++;
    this.abort = new AbortController();
    const abort = this.abort;
    const base = this.opts.watchTimeoutSeconds ?? 300;
    const timeoutSeconds = Math.floor(base * (1 + this.random()));
    const idleMs = this.opts.idleTimeoutMs ?? 2 * 2 * base * 1000;
    const started = this.timers.now();
    // Outcome of this stream, decided by the first thing that ends it.
    let outcome: WatchOutcome | undefined;
    const finish = (o: WatchOutcome) => {
      if (outcome === undefined) outcome = o;
    };
    let res: IncomingMessage | undefined;
    // Armed before the request: covers headers that never come, too.
    const armIdle = () => {
      this.timers.clearTimeout(this.idleTimer);
      this.idleTimer = this.timers.setTimeout(() => {
        finish({ kind: 'error', err: new Error(`watch silent for ${idleMs} ms`) });
        abort.abort();
        res?.destroy();
      }, idleMs);
    };
    armIdle();
    try {
      res = await this.http.get(
        this.spec.path,
        { watch: '1', resourceVersion: this.rv, allowWatchBookmarks: 'true', timeoutSeconds: String(timeoutSeconds) },
        abort.signal,
      );
    } catch (err) {
      this.timers.clearTimeout(this.idleTimer);
      if (run !== this.run) return;
      this.stats.drops++;
      this.retry(outcome?.kind === 'error' ? outcome.err : err);
      return;
    }
    if (run !== this.run) {
      res.destroy();
      return;
    }
    if (res.statusCode !== 200) {
      this.timers.clearTimeout(this.idleTimer);
      const text = await readBody(res).catch(() => '');
      if (run !== this.run) return;
      if (res.statusCode === 410) return this.gone(statusMessage(text));
      return this.retry(new HttpError(res.statusCode ?? 0, statusMessage(text)));
    }
    const stream = res;

    let events = 0;
    await new Promise<void>((resolve) => {
      let buf = '';
      const done = (o: WatchOutcome) => {
        finish(o);
        resolve();
      };
      const handle = (line: string): boolean => {
        if (line.trim() === '') return false;
        events++;
        const stop = this.onLine(line);
        if (stop === undefined) return false;
        done(stop);
        abort.abort();
        stream.destroy();
        return true;
      };
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        if (outcome !== undefined) return;
        if (run !== this.run) {
          stream.destroy();
          return done({ kind: 'end' });
        }
        armIdle();
        buf += chunk;
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (handle(line)) return;
        }
      });
      stream.on('end', () => {
        if (outcome === undefined && !handle(buf)) done({ kind: 'end' });
      });
      stream.on('error', (err) => done({ kind: 'error', err }));
      // 'close' without 'end': the connection went away mid-stream.
      stream.on('close', () => done(stream.complete ? { kind: 'end' } : { kind: 'error', err: new Error('connection lost') }));
    });
    this.timers.clearTimeout(this.idleTimer);
    if (run !== this.run) return;
    this.streamEnded(outcome!, events, started);
  }

  /** What follows a watch stream that ended with `o` after `events` lines, started at `started`. */
  private streamEnded(o: WatchOutcome, events: number, started: number): void {
    if (o.kind === 'gone') return this.gone(o.why);
    if (o.kind === 'error') {
      this.stats.drops++;
      return this.retry(o.err);
    }
    // Clean end (the server's timeoutSeconds). Watch again from RV; a
    // server that keeps ending empty streams at once gets the backoff.
    if (events === 0 && this.timers.now() - started < 1000) {
      const delay = this.backoff.next();
      this.state = 'backoff';
      this.timer = this.timers.setTimeout(() => void this.watch(), delay);
      return;
    }
    void this.watch();
  }

  /** Handles one watch line; returns how the stream should end, if it should. */
  private onLine(line: string): { kind: 'gone'; why: string } | { kind: 'error'; err: unknown } | undefined {
    let ev: { type?: unknown; object?: unknown };
    try {
      ev = JSON.parse(line) as typeof ev;
    } catch {
      // We may have lost an event with it: only a relist is safe.
      return { kind: 'error', err: new Error('unparsable watch event') };
    }
    const obj = ev.object as { metadata?: { resourceVersion?: unknown }; code?: unknown; message?: unknown; reason?: unknown } | undefined;
    switch (ev.type) {
      case 'ADDED':
      case 'MODIFIED':
      case 'DELETED': {
        const r = this.normalise(obj);
        if (r) this.on.event(ev.type, r);
        const rv = obj?.metadata?.resourceVersion;
        if (typeof rv === 'string' && rv !== '') this.rv = rv;
        return undefined;
      }
      case 'BOOKMARK': {
        const rv = obj?.metadata?.resourceVersion;
        if (typeof rv === 'string' && rv !== '') this.rv = rv;
        return undefined;
      }
      case 'ERROR': {
        const why = `${String(obj?.reason ?? '')} ${String(obj?.message ?? '')}`.trim();
        if (obj?.code === 410) return { kind: 'gone', why };
        return { kind: 'error', err: new Error(`watch ERROR ${String(obj?.code)}: ${why}`) };
      }
      default:
        return { kind: 'error', err: new Error(`unknown watch event type ${String(ev.type)}`) };
    }
  }

  // -------------------------------------------------------------------------
  // Recovery
  // -------------------------------------------------------------------------

  /** 410: our RV is too old. Relist at once (nothing is wrong with the server). */
  private gone(why: string): void {
    this.stats.gone++;
    this.opts.log.info({ collection: this.spec.name, why }, 'watch expired (410), relisting');
    this.rv = '';
    this.setSynced(false, `410 Gone: ${why}`);
    void this.list();
  }

  private retry(err: unknown): void {
    if (this.state === 'stopped') return;
    const delay = this.backoff.next();
    const detail = err instanceof Error ? err.message : String(err);
    // The same failure over and over (an outage) is logged once at warn.
    const level = detail === this.lastError ? 'debug' : 'warn';
    this.lastError = detail;
    this.opts.log[level]({ collection: this.spec.name, err: detail, retryInMs: delay }, 'list/watch failed, will relist');
    this.setSynced(false, detail);
    this.state = 'backoff';
    this.timers.clearTimeout(this.timer);
    this.timer = this.timers.setTimeout(() => void this.list(), delay);
  }

  private setSynced(s: boolean, detail?: string): void {
    if (s === this.isSynced) return;
    this.isSynced = s;
    this.on.synced(s, detail);
  }

  /** Fills kind/apiVersion, drops what we never read; undefined (and reported) when unusable. */
  private normalise(raw: unknown): Resource | undefined {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      this.on.bad('not an object', undefined);
      return undefined;
    }
    const o = raw as Record<string, unknown>;
    const meta = o.metadata as Record<string, unknown> | undefined;
    if (meta === null || typeof meta !== 'object' || typeof meta.name !== 'string' || meta.name === '') {
      this.on.bad('object has no metadata.name', undefined);
      return undefined;
    }
    const { managedFields: _mf, ...metadata } = meta;
    const r = { ...o, apiVersion: this.spec.apiVersion, kind: this.spec.kind, metadata } as Resource;
    if (this.spec.kind === 'Node' && r.status !== undefined) {
      // Node status is large (images, conditions) and changes every few
      // seconds with heartbeats; the view needs only addresses.
      const addresses = (r.status as { addresses?: unknown }).addresses;
      r.status = addresses === undefined ? {} : { addresses };
    }
    return r;
  }
}

function statusMessage(text: string): string {
  try {
    const s = JSON.parse(text) as { message?: unknown; reason?: unknown };
    return `${String(s.reason ?? '')} ${String(s.message ?? '')}`.trim() || text.slice(0, 200);
  } catch {
    return text.slice(0, 200);
  }
}
