/**
 * Kubernetes backend (Calico's "kubernetes" datastore, a.k.a. KDD).
 *
 * One list/watch per collection (./kubernetes-listwatch.ts): core Nodes,
 * Services and Endpoints (service IP advertisement), Secrets in Calico's
 * namespace (BGPPeer passwords, rotated live), and the
 * crd.projectcalico.org/v1 BGPConfiguration, BGPPeer, IPPool and
 * BlockAffinity CRDs. All objects go into one resource map; after each
 * burst of events the map is converted to the key view (the injected
 * converter, `resourcesToKeyView`) and the diff is published.
 *
 * Status: `connecting` until every collection has listed once; `in-sync`
 * while every collection is listed and watching; `resyncing` from the
 * moment any collection loses its watch until it has relisted.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { logger, type Logger } from '../log.js';
import { realTimers, type BackoffOptions, type Timers } from './backoff.js';
import { KeyViewPublisher, OnceLogger, ResourceKeyView, type KeyViewConverter } from './diff.js';
import { kubeConfigFromEnv, kubeConfigTransport, type K8sTransport } from './kubernetes-http.js';
import { ListWatch, type CollectionSpec } from './kubernetes-listwatch.js';
import type { Datastore, DatastoreListener, Resource, SyncStatus } from './types.js';

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

export interface KubernetesDatastoreOptions {
  /** Resources -> keys (`resourcesToKeyView`). */
  convert: KeyViewConverter;
  /** Either a transport (tests) or a KubeConfig (production). */
  transport?: K8sTransport;
  kubeConfig?: KubeConfig;
  nodeName?: string;
  /** `USE_POD_CIDR=true`: a node's spec.podCIDRs are its blocks (host-local IPAM). */
  usePodCidr?: boolean;
  /**
   * Namespaces whose Secrets BGP passwords refer to (calico-node's own).
   * Default: calico-system and kube-system (operator and manifest installs).
   */
  secretsNamespaces?: string[];
  /** Override the collections watched (tests). */
  collections?: CollectionSpec[];
  pageSize?: number;
  watchTimeoutSeconds?: number;
  idleTimeoutMs?: number;
  absentRetryMs?: number;
  requestTimeoutMs?: number;
  /** Wait this long after an event to batch a burst into one conversion. Default 20 ms. */
  coalesceMs?: number;
  backoff?: BackoffOptions;
  timers?: Timers;
  random?: () => number;
  log?: Logger;
}

/**
 * From Calico's variables: `KUBECONFIG` / `K8S_API_ENDPOINT` & co (see
 * kubeConfigFromEnv), `NODENAME`, `USE_POD_CIDR`, and `NAMESPACE` (the
 * calico-node pod's namespace, where BGP password Secrets live).
 */
export function kubernetesOptionsFromEnv(
  env: NodeJS.ProcessEnv,
  convert: KeyViewConverter,
): KubernetesDatastoreOptions {
  const opt = (v: string | undefined) => (v === undefined || v === '' ? undefined : v);
  return {
    convert,
    kubeConfig: kubeConfigFromEnv(env),
    nodeName: opt(env.NODENAME),
    usePodCidr: (env.USE_POD_CIDR ?? '').toLowerCase() === 'true',
    ...(opt(env.NAMESPACE) !== undefined ? { secretsNamespaces: [env.NAMESPACE!] } : {}),
  };
}

export const DEFAULT_SECRETS_NAMESPACES: readonly string[] = ['calico-system', 'kube-system'];

/**
 * The collections the BGP view is built from. Only Nodes are required: the
 * others may be forbidden (Secrets need an extra Role in Calico's docs) or
 * absent (a CRD not installed) and then count as empty.
 */
export function defaultCollections(secretsNamespaces: readonly string[] = DEFAULT_SECRETS_NAMESPACES): CollectionSpec[] {
  const crd = (name: string, kind: string): CollectionSpec => ({
    name,
    path: `/apis/crd.projectcalico.org/v1/${name}`,
    apiVersion: 'crd.projectcalico.org/v1',
    kind,
    optional: true,
  });
  return [
    { name: 'nodes', path: '/api/v1/nodes', apiVersion: 'v1', kind: 'Node' },
    { name: 'services', path: '/api/v1/services', apiVersion: 'v1', kind: 'Service', optional: true },
    { name: 'endpoints', path: '/api/v1/endpoints', apiVersion: 'v1', kind: 'Endpoints', optional: true },
    ...secretsNamespaces.map(
      (ns): CollectionSpec => ({
        name: `secrets/${ns}`,
        path: `/api/v1/namespaces/${encodeURIComponent(ns)}/secrets`,
        apiVersion: 'v1',
        kind: 'Secret',
        optional: true,
      }),
    ),
    crd('bgpconfigurations', 'BGPConfiguration'),
    crd('bgppeers', 'BGPPeer'),
    crd('ippools', 'IPPool'),
    crd('blockaffinities', 'BlockAffinity'),
  ];
}

// ---------------------------------------------------------------------------
// Backend
// ---------------------------------------------------------------------------

export class KubernetesDatastore implements Datastore {
  private readonly log: Logger;
  private readonly pub: KeyViewPublisher;
  private readonly once: OnceLogger;
  private readonly timers: Timers;
  private readonly view: ResourceKeyView;
  private readonly watches: ListWatch[] = [];
  /** Ids held per collection, and a change signature per id. */
  private readonly held = new Map<string, Map<string, string>>();
  private readonly synced = new Set<string>();
  private flushTimer: unknown;
  private started = false;
  private stopped = false;
  private everSynced = false;
  /** Conversions run (tests, benchmarks). */
  readonly stats = { conversions: 0 };

  constructor(private readonly opts: KubernetesDatastoreOptions) {
    this.log = opts.log ?? logger('datastore-kubernetes');
    this.pub = new KeyViewPublisher(this.log);
    this.once = new OnceLogger(this.log);
    this.timers = opts.timers ?? realTimers;
    this.view = new ResourceKeyView(opts.convert, { nodeName: opts.nodeName, usePodCidr: opts.usePodCidr }, this.log);
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const transport =
      this.opts.transport ??
      kubeConfigTransport(this.opts.kubeConfig ?? kubeConfigFromEnv(process.env));
    const collections = this.opts.collections ?? defaultCollections(this.opts.secretsNamespaces);
    for (const spec of collections) {
      this.held.set(spec.name, new Map());
      const lw = new ListWatch(
        transport,
        spec,
        {
          reset: (items) => this.onReset(spec, items),
          event: (type, obj) => this.onEvent(spec, type, obj),
          synced: (s, detail) => this.onSynced(spec, s, detail),
          bad: (reason) => this.once.warn(`${spec.name}:${reason}`, reason, { collection: spec.name }),
        },
        {
          timers: this.opts.timers,
          backoff: this.opts.backoff,
          pageSize: this.opts.pageSize,
          watchTimeoutSeconds: this.opts.watchTimeoutSeconds,
          idleTimeoutMs: this.opts.idleTimeoutMs,
          random: this.opts.random,
          absentRetryMs: this.opts.absentRetryMs,
          requestTimeoutMs: this.opts.requestTimeoutMs,
          log: this.log,
        },
      );
      this.watches.push(lw);
    }
    this.log.info({ collections: collections.map((c) => c.name) }, 'starting kubernetes datastore');
    for (const lw of this.watches) lw.start();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.timers.clearTimeout(this.flushTimer);
    for (const lw of this.watches) lw.stop();
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

  /** List/watch loops, for tests and status output. */
  listWatches(): readonly ListWatch[] {
    return this.watches;
  }

  // -------------------------------------------------------------------------
  // Collection events
  // -------------------------------------------------------------------------

  private onReset(spec: CollectionSpec, items: Resource[]): void {
    const held = this.held.get(spec.name)!;
    const next = new Map<string, string>();
    for (const r of items) {
      const id = resourceId(spec, r);
      const sig = signature(r);
      next.set(id, sig);
      // Unchanged objects keep their identity: the conversion memoises on it.
      if (held.get(id) !== sig || !this.view.resources.has(id)) this.view.resources.set(id, r);
    }
    for (const id of held.keys()) if (!next.has(id)) this.view.resources.delete(id);
    this.held.set(spec.name, next);
    // Flush even when nothing changed: the flush is what ends a resync.
    this.scheduleFlush();
  }

  private onEvent(spec: CollectionSpec, type: 'ADDED' | 'MODIFIED' | 'DELETED', r: Resource): void {
    const held = this.held.get(spec.name)!;
    const id = resourceId(spec, r);
    if (type === 'DELETED') {
      if (!held.delete(id)) return;
      this.view.resources.delete(id);
      this.scheduleFlush();
      return;
    }
    const sig = signature(r);
    // Status-only churn (Node heartbeats, resourceVersion bumps) changes no key.
    if (held.get(id) === sig) return;
    held.set(id, sig);
    this.view.resources.set(id, r);
    this.scheduleFlush();
  }

  private onSynced(spec: CollectionSpec, s: boolean, detail?: string): void {
    if (s) {
      this.synced.add(spec.name);
      this.scheduleFlush();
      return;
    }
    this.synced.delete(spec.name);
    this.pub.setStatus(this.everSynced ? 'resyncing' : 'connecting', `${spec.name}: ${detail ?? 'not synced'}`);
  }

  private scheduleFlush(): void {
    if (this.flushTimer !== undefined || this.stopped) return;
    this.flushTimer = this.timers.setTimeout(() => {
      this.flushTimer = undefined;
      this.flush();
    }, this.opts.coalesceMs ?? 20);
  }

  private flush(): void {
    if (this.stopped) return;
    // Until every collection has listed once the view is partial: publish nothing.
    if (!this.everSynced && this.synced.size < this.watches.length) return;
    this.stats.conversions++;
    this.pub.replace(this.view.keys());
    if (this.synced.size === this.watches.length) {
      this.everSynced = true;
      this.pub.setStatus('in-sync');
    }
  }
}

function resourceId(spec: CollectionSpec, r: Resource): string {
  return `${spec.name}/${r.metadata.namespace ?? ''}/${r.metadata.name}`;
}

/** What a resource looks like to the conversion, minus the resourceVersion. */
function signature(r: Resource): string {
  const { resourceVersion: _rv, ...metadata } = r.metadata;
  return JSON.stringify({ ...r, metadata });
}
