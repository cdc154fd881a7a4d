/**
 * A small in-memory Kubernetes API server for the Kubernetes backend tests.
 *
 * What it implements (the list/watch contract the backend relies on):
 * - GET collection (LIST) for `/api/v1/[namespaces/NS/]PLURAL` and
 *   `/apis/GROUP/VERSION/[namespaces/NS/]PLURAL`: `{kind: XList, apiVersion,
 *   metadata: {resourceVersion, continue?}, items}`; `limit` + `continue`
 *   paging (continue tokens expire with 410 after `compact()`); core-group
 *   list items carry no kind/apiVersion, like the real server's JSON.
 * - WATCH (`?watch=1|true&resourceVersion=RV`): events after RV replayed from
 *   a history log, then live ones; newline-delimited JSON in a chunked
 *   response (optionally each event split across two chunks);
 *   `allowWatchBookmarks` + `bookmark()`; `timeoutSeconds` ends the stream
 *   cleanly; an RV older than the last `compact()` gets `410 Gone` as an
 *   ERROR event on a 200 stream (what the real server does) or, with
 *   `goneAs: 'http'`, as an HTTP 410 status.
 * - A single global resourceVersion counter; every write bumps it.
 * - Bearer token check when `token` is set (401 otherwise).
 * - `dropConnections()`: destroys every open socket (a network drop);
 *   `setAvailable(false)`: 503 for everything until set back (an outage);
 *   `endWatches()`: clean end of every watch (the server-side timeout);
 *   `sendRaw()`: arbitrary bytes on open watches (corrupt streams);
 *   `deny()`: 403 for one collection (missing RBAC); `stall()`: requests
 *   for one collection are never answered.
 *
 * What it does NOT implement: label/field selectors, resourceVersionMatch,
 * watch-list / sendInitialEvents, GET/PUT/POST/DELETE of single objects over
 * HTTP (tests write through the methods here), admission, validation,
 * defaulting, generation/uid management, RBAC, discovery (`/apis`),
 * protobuf, table output, HTTP/2, TLS (plain HTTP on loopback).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface K8sObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  [k: string]: unknown;
}

interface Collection {
  /** e.g. "api/v1/nodes", "apis/crd.projectcalico.org/v1/bgppeers" (no namespace). */
  id: string;
  apiVersion: string;
  kind: string;
  core: boolean;
  objects: Map<string, K8sObject>;
}

interface HistoryEntry {
  rv: number;
  collection: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: K8sObject;
}

interface OpenWatch {
  collection: string;
  namespace: string | undefined;
  bookmarks: boolean;
  res: ServerResponse;
}

export interface FakeApiServerOptions {
  token?: string;
  goneAs?: 'event' | 'http';
  /** Write each watch event in two chunks, split mid-line. */
  splitChunks?: boolean;
  /** Listen on this port of 127.0.0.1 (default: any free port). */
  port?: number;
}

/** Kinds per collection the backend uses (plural -> kind). */
const KINDS: Record<string, string> = {
  nodes: 'Node',
  services: 'Service',
  endpoints: 'Endpoints',
  secrets: 'Secret',
  bgpconfigurations: 'BGPConfiguration',
  bgppeers: 'BGPPeer',
  ippools: 'IPPool',
  blockaffinities: 'BlockAffinity',
};

export class FakeApiServer {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly collections = new Map<string, Collection>();
  private history: HistoryEntry[] = [];
  private rv = 100;
  private compactedRv = 0;
  private readonly watches = new Set<OpenWatch>();
  private available = true;
  private readonly denied = new Set<string>();
  private readonly stalled = new Set<string>();
  private readonly snapshots = new Map<number, { rv: number; items: K8sObject[] }>();
  private snapshotSeq = 0;
  /** Every request path+query, for assertions. */
  readonly requests: string[] = [];
  url = '';

  constructor(private readonly opts: FakeApiServerOptions = {}) {}

  async start(): Promise<string> {
    const srv = createServer((req, res) => this.handle(req, res));
    srv.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => srv.listen(this.opts.port ?? 0, '127.0.0.1', resolve));
    const addr = srv.address();
    this.url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    this.server = srv;
    return this.url;
  }

  async stop(): Promise<void> {
    this.dropConnections();
    const srv = this.server;
    this.server = undefined;
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
  }

  get resourceVersion(): number {
    return this.rv;
  }

  get openWatches(): number {
    return this.watches.size;
  }

  // -------------------------------------------------------------------------
  // Writes (test side)
  // -------------------------------------------------------------------------

  /** Creates or replaces an object in a collection ("api/v1/nodes", ...). */
  put(collection: string, obj: K8sObject): K8sObject {
    const c = this.collection(collection);
    const key = objKey(obj.metadata.namespace, obj.metadata.name);
    const type = c.objects.has(key) ? 'MODIFIED' : 'ADDED';
    const stored = structuredClone(obj);
    stored.metadata.resourceVersion = String(++this.rv);
    stored.apiVersion = c.apiVersion;
    stored.kind = c.kind;
    c.objects.set(key, stored);
    this.record(c, type, stored);
    return stored;
  }

  delete(collection: string, name: string, namespace?: string): void {
    const c = this.collection(collection);
    const key = objKey(namespace, name);
    const old = c.objects.get(key);
    if (!old) return;
    c.objects.delete(key);
    const gone = structuredClone(old);
    gone.metadata.resourceVersion = String(++this.rv);
    this.record(c, 'DELETED', gone);
  }

  /** Forgets history: watches and continue tokens from before now get 410. */
  compact(): void {
    this.history = [];
    this.snapshots.clear();
    this.compactedRv = this.rv;
  }

  /** Sends a BOOKMARK at the current RV to watches that asked for them. */
  bookmark(): void {
    for (const w of this.watches) {
      if (!w.bookmarks) continue;
      const c = this.collections.get(w.collection)!;
      this.send(w.res, { type: 'BOOKMARK', object: { kind: c.kind, apiVersion: c.apiVersion, metadata: { resourceVersion: String(this.rv) } } });
    }
  }

  /** Ends every open watch cleanly, as the server's own timeout would. */
  endWatches(): void {
    for (const w of this.watches) w.res.end();
    this.watches.clear();
  }

  /** Writes a raw line (e.g. garbage) to every open watch of a collection. */
  sendRaw(collection: string, text: string): void {
    for (const w of this.watches) if (w.collection === collection) w.res.write(text);
  }

  /** While unavailable, open connections are dropped and every request gets 503. */
  setAvailable(available: boolean): void {
    this.available = available;
    if (!available) this.dropConnections();
  }

  /** Answers 403 Forbidden for a collection (RBAC not granted) until `allow()`. */
  deny(collection: string): void {
    this.denied.add(collection);
  }

  allow(collection: string): void {
    this.denied.delete(collection);
    this.stalled.delete(collection);
  }

  /** Accepts requests for a collection and never answers them (a stuck server) until `allow()`. */
  stall(collection: string): void {
    this.stalled.add(collection);
  }

  /** Kills every connection without a clean end. */
  dropConnections(): void {
    for (const s of this.sockets) s.destroy();
    this.watches.clear();
  }

  // -------------------------------------------------------------------------
  // HTTP
  // -------------------------------------------------------------------------

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push(url.pathname + url.search);
    if (!this.available) return this.status(res, 503, 'ServiceUnavailable', 'unavailable');
    if (this.opts.token !== undefined && req.headers.authorization !== `Bearer ${this.opts.token}`) {
      return this.status(res, 401, 'Unauthorized', 'Unauthorized');
    }
    if (req.method !== 'GET') return this.status(res, 405, 'MethodNotAllowed', 'only GET is implemented');
    const route = parsePath(url.pathname);
    if (!route || KINDS[route.plural] === undefined) return this.status(res, 404, 'NotFound', 'the server could not find the requested resource');
    if (this.stalled.has(route.collection)) return;
    if (this.denied.has(route.collection)) return this.status(res, 403, 'Forbidden', `cannot list resource "${route.plural}"`);
    const c = this.collection(route.collection);
    const watch = url.searchParams.get('watch');
    if (watch === '1' || watch === 'true') return this.watch(c, route.namespace, url.searchParams, res);
    return this.list(c, route.namespace, url.searchParams, res);
  }

  private list(c: Collection, ns: string | undefined, q: URLSearchParams, res: ServerResponse): void {
    const limit = Number(q.get('limit') ?? '0');
    const cont = q.get('continue');
    let rv = this.rv;
    let offset = 0;
    let items: K8sObject[];
    if (cont) {
      const tok = JSON.parse(Buffer.from(cont, 'base64').toString()) as { id: number; offset: number };
      const snap = this.snapshots.get(tok.id);
      if (!snap || snap.rv < this.compactedRv) return this.status(res, 410, 'Expired', 'The provided continue parameter is too old');
      rv = snap.rv;
      offset = tok.offset;
      items = snap.items;
    } else {
      items = [...c.objects.values()]
        .filter((o) => ns === undefined || o.metadata.namespace === ns)
        .sort((a, b) => objKey(a.metadata.namespace, a.metadata.name).localeCompare(objKey(b.metadata.namespace, b.metadata.name)));
    }
    const page = limit > 0 ? items.slice(offset, offset + limit) : items.slice(offset);
    const next = offset + page.length;
    const metadata: Record<string, unknown> = { resourceVersion: String(rv) };
    if (next < items.length) {
      // Like the real server, the list snapshot stays server-side; the token names it.
      const id = ++this.snapshotSeq;
      this.snapshots.set(id, { rv, items });
      metadata.continue = Buffer.from(JSON.stringify({ id, offset: next })).toString('base64');
    }
    const out = page.map((o) => {
      if (!c.core) return o;
      const { kind: _k, apiVersion: _a, ...rest } = o;
      return rest;
    });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: `${c.kind}List`, apiVersion: c.apiVersion, metadata, items: out }));
  }

  private watch(c: Collection, ns: string | undefined, q: URLSearchParams, res: ServerResponse): void {
    const from = Number(q.get('resourceVersion') ?? '0');
    if (from !== 0 && from < this.compactedRv) {
      if (this.opts.goneAs === 'http') return this.status(res, 410, 'Expired', `too old resource version: ${from} (${this.compactedRv})`);
      res.writeHead(200, { 'content-type': 'application/json' });
      this.send(res, {
        type: 'ERROR',
        object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${from} (${this.compactedRv})`, reason: 'Expired', code: 410 },
      });
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const w: OpenWatch = { collection: c.id, namespace: ns, bookmarks: q.get('allowWatchBookmarks') === 'true', res };
    this.watches.add(w);
    if (from === 0) {
      for (const o of c.objects.values()) if (ns === undefined || o.metadata.namespace === ns) this.send(res, { type: 'ADDED', object: o });
    } else {
      for (const h of this.history) {
        if (h.rv > from && h.collection === c.id && (ns === undefined || h.object.metadata.namespace === ns)) {
          this.send(res, { type: h.type, object: h.object });
        }
      }
    }
    const timeout = Number(q.get('timeoutSeconds') ?? '0');
    let timer: NodeJS.Timeout | undefined;
    if (timeout > 0) timer = setTimeout(() => res.end(), timeout * 1000);
    res.on('close', () => {
      clearTimeout(timer);
      this.watches.delete(w);
    });
  }

  private record(c: Collection, type: HistoryEntry['type'], object: K8sObject): void {
    this.history.push({ rv: this.rv, collection: c.id, type, object });
    for (const w of this.watches) {
      if (w.collection !== c.id) continue;
      if (w.namespace !== undefined && w.namespace !== object.metadata.namespace) continue;
      this.send(w.res, { type, object });
    }
  }

  private send(res: ServerResponse, event: unknown): void {
    const line = JSON.stringify(event) + '\n';
    if (this.opts.splitChunks && line.length > 2) {
      const mid = Math.floor(line.length / 2);
      res.write(line.slice(0, mid));
      res.write(line.slice(mid));
    } else {
      res.write(line);
    }
  }

  private status(res: ServerResponse, code: number, reason: string, message: string): void {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }));
  }

  private collection(id: string): Collection {
    let c = this.collections.get(id);
    if (!c) {
      const parts = id.split('/');
      const core = parts[0] === 'api';
      const plural = parts[parts.length - 1]!;
      c = {
        id,
        core,
        apiVersion: core ? parts[1]! : `${parts[1]}/${parts[2]}`,
        kind: KINDS[plural] ?? plural,
        objects: new Map(),
      };
      this.collections.set(id, c);
    }
    return c;
  }
}

function objKey(ns: string | undefined, name: string): string {
  return `${ns ?? ''}/${name}`;
}

/** `/api/v1/namespaces/ns/secrets` -> {collection: "api/v1/secrets", namespace: "ns", plural: "secrets"}. */
function parsePath(path: string): { collection: string; namespace: string | undefined; plural: string } | undefined {
  const p = path.split('/').filter((s) => s !== '');
  let base: string[];
  let rest: string[];
  if (p[0] === 'api' && p.length >= 3) {
    base = p.slice(0, 2);
    rest = p.slice(2);
  } else if (p[0] === 'apis' && p.length >= 4) {
    base = p.slice(0, 3);
    rest = p.slice(3);
  } else return undefined;
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length === 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  if (rest.length !== 1) return undefined;
  return { collection: [...base, rest[0]!].join('/'), namespace, plural: rest[0]! };
}
