/**
 * A small in-memory Kubernetes API server for the Kubernetes backend tests,
 * and for kubectl (test/deploy/kubectl.test.ts checks it against Debian's
 * kubectl for every resource the datastore reads).
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
 * - Single objects over HTTP, enough for `kubectl get NAME`, `apply`,
 *   `delete`: GET, POST (create, 409 if it exists), PUT (update, 409 on a
 *   stale resourceVersion), PATCH with `application/merge-patch+json` and
 *   `application/strategic-merge-patch+json` (both applied as a JSON merge
 *   patch: lists are replaced, not merged by key, and `$patch` /
 *   `$setElementOrder` directives are dropped), DELETE; uid and
 *   creationTimestamp are set on create. `fieldSelector=metadata.name=X`
 *   (what `kubectl get NAME --watch` sends) on LIST and WATCH.
 * - Discovery (./discovery.ts): `/api`, `/apis`, `/api/v1`,
 *   `/apis/crd.projectcalico.org/v1`, `/version`, legacy format only; and
 *   OpenAPI v3 (`/openapi/v3`, one document per group/version) with a
 *   free-form schema per type and a PATCH operation that lists
 *   `fieldValidation`, so that kubectl leaves validation to the server
 *   (which accepts the parameter and validates nothing, see below).
 * - RBAC (./rbac.ts) when `rbac` is given: every request is authorized
 *   against the project's shipped ClusterRole/Role as one user; a refusal is
 *   the real 403 Status (`... is forbidden: User "..." cannot list resource
 *   "..." in API group "..." at the cluster scope`) and is recorded in
 *   `denials`; grants never used are listed by `rbac.unused()`.
 * - A single global resourceVersion counter; every write bumps it.
 * - Bearer token check when `token` is set (401 otherwise).
 * - `dropConnections()`: destroys every open socket (a network drop);
 *   `setAvailable(false)`: 503 for everything until set back (an outage);
 *   `endWatches()`: clean end of every watch (the server-side timeout);
 *   `sendRaw()`: arbitrary bytes on open watches (corrupt streams);
 *   `deny()`: 403 for one collection (missing RBAC); `stall()`: requests
 *   for one collection are never answered.
 *
 * What it does NOT implement: label selectors and other field selectors,
 * resourceVersionMatch, watch-list / sendInitialEvents, JSON patch and
 * server-side apply, admission, validation (any JSON object is stored),
 * defaulting, generation, finalizers, the status subresource, aggregated
 * discovery, OpenAPI v2 (`/openapi/v2` answers 404; kubectl does not need
 * it when v3 is there), real schemas in the OpenAPI v3 documents,
 * Table output (kubectl prints the plain list), protobuf, HTTP/2, TLS
 * (plain HTTP on loopback), and every resource type other than the
 * datastore's (404).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { discoveryDocument, resourceType, type ResourceType } from './discovery.js';
import type { RbacPolicy, RequestAttributes } from './rbac.js';

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
  /** fieldSelector metadata.name=NAME */
  name: string | undefined;
  bookmarks: boolean;
  res: ServerResponse;
}

export interface FakeApiServerOptions {
  token?: string;
  goneAs?: 'event' | 'http';
  /** Write each watch event in two chunks, split mid-line. */
  splitChunks?: boolean;
  /** Authorize every request against these roles (403 otherwise). */
  rbac?: RbacPolicy;
  /** The user named in 403 messages. */
  user?: string;
  /** Listen on this port of 127.0.0.1 (default: any free port). */
  port?: number;
}

/** A request RBAC refused. */
export interface Denial extends RequestAttributes {
  path: string;
  message: string;
}

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
  /** Requests RBAC refused (with `rbac`). */
  readonly denials: Denial[] = [];
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
    const old = c.objects.get(key);
    stored.metadata.uid = old?.metadata.uid ?? obj.metadata.uid ?? randomUUID();
    stored.metadata.creationTimestamp = old?.metadata.creationTimestamp ?? obj.metadata.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z');
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
    const doc = req.method === 'GET' ? discoveryDocument(url.pathname) : undefined;
    if (doc !== undefined) return this.json(res, 200, doc);
    const route = parsePath(url.pathname);
    if (!route) return this.status(res, 404, 'NotFound', 'the server could not find the requested resource');
    const watch = url.searchParams.get('watch') === '1' || url.searchParams.get('watch') === 'true';
    const verb = verbOf(req.method ?? 'GET', route.name !== undefined, watch);
    if (!verb) return this.status(res, 405, 'MethodNotAllowed', `${req.method} is not supported`);
    if (!this.authorized({ verb, group: route.type.group, resource: route.type.plural, namespace: route.namespace }, url.pathname, res)) return;
    if (this.stalled.has(route.collection)) return;
    if (this.denied.has(route.collection)) return this.status(res, 403, 'Forbidden', `cannot list resource "${route.type.plural}"`);
    const c = this.collection(route.collection);
    let selected: string | undefined;
    try {
      selected = nameSelector(url.searchParams.get('fieldSelector'));
    } catch (e) {
      return this.status(res, 400, 'BadRequest', (e as Error).message);
    }
    if (verb === 'watch') return this.watch(c, route.namespace, url.searchParams, res, selected);
    if (verb === 'list') return this.list(c, route.namespace, url.searchParams, res, selected);
    void this.object(verb, c, route, req, res).catch((e: unknown) => this.status(res, 400, 'BadRequest', (e as Error).message));
  }

  /** RBAC: true when allowed; else answers 403 as the real server does. */
  private authorized(a: RequestAttributes, path: string, res: ServerResponse): boolean {
    const rbac = this.opts.rbac;
    if (!rbac || rbac.authorize(a)) return true;
    const user = this.opts.user ?? 'system:serviceaccount:kube-system:calico-bgpd';
    const where = a.namespace === undefined ? 'at the cluster scope' : `in the namespace "${a.namespace}"`;
    const message = `${a.resource} is forbidden: User "${user}" cannot ${a.verb} resource "${a.resource}" in API group "${a.group}" ${where}`;
    this.denials.push({ ...a, path, message });
    this.json(res, 403, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'Forbidden', details: { kind: a.resource }, code: 403 });
    return false;
  }

  /** GET, POST, PUT, PATCH, DELETE of one object. */
  private async object(verb: RequestAttributes['verb'], c: Collection, route: Route, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = verb === 'create' || verb === 'update' || verb === 'patch' ? await readJson(req) : undefined;
    const name = verb === 'create' ? (body as K8sObject | undefined)?.metadata?.name : route.name;
    if (typeof name !== 'string' || name === '') return this.status(res, 422, 'Invalid', 'metadata.name: Required value');
    const existing = c.objects.get(objKey(route.namespace, name));
    const notFound = () => this.status(res, 404, 'NotFound', `${route.type.plural}${route.type.group ? '.' + route.type.group : ''} "${name}" not found`);
    const withNs = (o: K8sObject): K8sObject => {
      o.metadata = { ...o.metadata, name, ...(route.type.namespaced ? { namespace: route.namespace ?? 'default' } : {}) };
      return o;
    };
    switch (verb) {
      case 'get':
        return existing ? this.json(res, 200, existing) : notFound();
      case 'delete':
        if (!existing) return notFound();
        this.delete(c.id, name, route.namespace);
        return this.json(res, 200, existing);
      case 'create':
        if (existing) return this.status(res, 409, 'AlreadyExists', `${route.type.plural} "${name}" already exists`);
        return this.json(res, 201, this.put(c.id, withNs(body as K8sObject)));
      case 'update': {
        if (!existing) return notFound();
        const rv = (body as K8sObject).metadata?.resourceVersion;
        if (rv !== undefined && rv !== existing.metadata.resourceVersion) {
          return this.status(res, 409, 'Conflict', `Operation cannot be fulfilled on ${route.type.plural} "${name}": the object has been modified`);
        }
        return this.json(res, 200, this.put(c.id, withNs(body as K8sObject)));
      }
      case 'patch': {
        if (!existing) return notFound();
        const type = (req.headers['content-type'] ?? '').split(';')[0];
        if (type !== 'application/merge-patch+json' && type !== 'application/strategic-merge-patch+json') {
          return this.status(res, 415, 'UnsupportedMediaType', `the body of the request was in an unknown format: ${type}`);
        }
        const patched = mergePatch(existing, body) as K8sObject;
        return this.json(res, 200, this.put(c.id, withNs(patched)));
      }
      default:
        return this.status(res, 405, 'MethodNotAllowed', `${verb} is not supported here`);
    }
  }

  private list(c: Collection, ns: string | undefined, q: URLSearchParams, res: ServerResponse, name?: string): void {
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
        .filter((o) => (ns === undefined || o.metadata.namespace === ns) && (name === undefined || o.metadata.name === name))
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

  private watch(c: Collection, ns: string | undefined, q: URLSearchParams, res: ServerResponse, name?: string): void {
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
    const w: OpenWatch = { collection: c.id, namespace: ns, name, bookmarks: q.get('allowWatchBookmarks') === 'true', res };
    this.watches.add(w);
    if (from === 0) {
      for (const o of c.objects.values()) if (matches(w, o)) this.send(res, { type: 'ADDED', object: o });
    } else {
      for (const h of this.history) {
        if (h.rv > from && h.collection === c.id && matches(w, h.object)) {
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
      if (w.collection !== c.id || !matches(w, object)) continue;
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
    this.json(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
  }

  private json(res: ServerResponse, code: number, body: unknown): void {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private collection(id: string): Collection {
    let c = this.collections.get(id);
    if (!c) {
      const parts = id.split('/');
      const core = parts[0] === 'api';
      const plural = parts[parts.length - 1]!;
      const type = core ? resourceType('', parts[1]!, plural) : resourceType(parts[1]!, parts[2]!, plural);
      c = {
        id,
        core,
        apiVersion: core ? parts[1]! : `${parts[1]}/${parts[2]}`,
        kind: type?.kind ?? plural,
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

interface Route {
  /** "api/v1/secrets" (no namespace). */
  collection: string;
  namespace: string | undefined;
  /** Set for a single object's path. */
  name: string | undefined;
  type: ResourceType;
}

/**
 * `/api/v1/namespaces/ns/secrets[/name]` -> {collection: "api/v1/secrets",
 * namespace: "ns", name}; undefined for anything that is not one of the
 * served resource types.
 */
function parsePath(path: string): Route | undefined {
  const p = path.split('/').filter((s) => s !== '').map(decodeURIComponent);
  let base: string[];
  let rest: string[];
  let group: string;
  if (p[0] === 'api' && p.length >= 3) {
    base = p.slice(0, 2);
    rest = p.slice(2);
    group = '';
  } else if (p[0] === 'apis' && p.length >= 4) {
    base = p.slice(0, 3);
    rest = p.slice(3);
    group = p[1]!;
  } else return undefined;
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  if (rest.length !== 1 && rest.length !== 2) return undefined;
  const type = resourceType(group, base[base.length - 1]!, rest[0]!);
  if (!type || (namespace !== undefined && !type.namespaced)) return undefined;
  // A namespaced object is only addressed inside its namespace.
  if (rest.length === 2 && type.namespaced && namespace === undefined) return undefined;
  return { collection: [...base, rest[0]!].join('/'), namespace, name: rest[1], type };
}

/** The RBAC verb of a request. */
function verbOf(method: string, single: boolean, watch: boolean): RequestAttributes['verb'] | undefined {
  switch (method) {
    case 'GET':
      return watch ? 'watch' : single ? 'get' : 'list';
    case 'POST':
      return single ? undefined : 'create';
    case 'PUT':
      return single ? 'update' : undefined;
    case 'PATCH':
      return single ? 'patch' : undefined;
    case 'DELETE':
      return single ? 'delete' : undefined;
    default:
      return undefined;
  }
}

/** `metadata.name=NAME` (the only field selector served); other selectors are refused loudly. */
function nameSelector(selector: string | null): string | undefined {
  if (selector === null || selector === '') return undefined;
  const m = /^metadata\.name=(.+)$/.exec(selector);
  if (!m) throw new Error(`field selector not implemented by the test API server: ${selector}`);
  return m[1];
}

function matches(w: { namespace: string | undefined; name: string | undefined }, o: K8sObject): boolean {
  return (w.namespace === undefined || o.metadata.namespace === w.namespace) && (w.name === undefined || o.metadata.name === w.name);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const value = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('the request body is not a JSON object');
  return value;
}

/** RFC 7386 JSON merge patch; strategic-merge directives (`$patch`, `$setElementOrder/...`, `$retainKeys`) are dropped. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (k.startsWith('$')) continue;
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}
