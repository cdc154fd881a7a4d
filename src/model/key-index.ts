/**
 * The key view, indexed for one node's model: hosts (address, AS, cluster id,
 * listen port of every node, for the mesh), the global and this node's
 * scalar settings, peer entries, pools, this node's blocks and the service
 * routes. Built once from a snapshot and then kept current by applying
 * change batches, so a change costs work in proportion to the change, not to
 * the cluster.
 *
 * It also memoises derived values (parsed addresses, parsed peer entries,
 * finished Peer objects) so that an unchanged peer is the same object from
 * one model to the next; the model comparison then stops at identity.
 */
import { parseIp, type ParsedIp } from '../net/index.js';
import type { KeyChange } from '../datastore/types.js';
import type { Family } from './types.js';

export const G = '/calico/bgp/v1/global/';
export const H = '/calico/bgp/v1/host/';
const POOL4 = '/calico/v1/ipam/v4/pool/';
const POOL6 = '/calico/v1/ipam/v6/pool/';
const BLOCKS = '/calico/ipam/v2/host/';
const ROUTES: Record<string, { kind: 'static' | 'reject'; family: Family }> = {
  '/calico/staticroutes/': { kind: 'static', family: 4 },
  '/calico/staticroutesv6/': { kind: 'static', family: 6 },
  '/calico/rejectcidrs/': { kind: 'reject', family: 4 },
  '/calico/rejectcidrsv6/': { kind: 'reject', family: 6 },
};

export interface HostInfo {
  v4: string;
  v6: string;
  as: string;
  rr: string;
  listenPort: string;
}

export interface FamilyEntry {
  family: Family;
  value: string;
}

export interface PartEntry extends FamilyEntry {
  /** The CIDR part of the key (`10.0.0.0-26`). */
  part: string;
}

export interface RouteEntry {
  kind: 'static' | 'reject';
  family: Family;
  part: string;
}

/** A Map whose keys can be listed in sorted order cheaply (the order is cached until a key is added or removed). */
export class SortedMap<V> {
  readonly map = new Map<string, V>();
  private sorted: string[] | null = null;
  set(k: string, v: V): void {
    if (!this.map.has(k)) this.sorted = null;
    this.map.set(k, v);
  }
  delete(k: string): boolean {
    if (!this.map.delete(k)) return false;
    this.sorted = null;
    return true;
  }
  get(k: string): V | undefined {
    return this.map.get(k);
  }
  get size(): number {
    return this.map.size;
  }
  keys(): readonly string[] {
    if (this.sorted === null) this.sorted = [...this.map.keys()].sort();
    return this.sorted;
  }
}

const HOST_FIELDS: Record<string, keyof HostInfo> = {
  ip_addr_v4: 'v4',
  ip_addr_v6: 'v6',
  as_num: 'as',
  rr_cluster_id: 'rr',
  listen_port: 'listenPort',
};

export class KeyIndex {
  readonly hosts = new SortedMap<HostInfo>();
  /** Global keys and this node's host keys that are not peers, by full key. */
  readonly scalars = new Map<string, string>();
  readonly globalPeers = new SortedMap<FamilyEntry>();
  readonly nodePeers = new SortedMap<FamilyEntry>();
  readonly pools = new SortedMap<FamilyEntry>();
  readonly blocks = new SortedMap<PartEntry>();
  readonly routes = new SortedMap<RouteEntry>();
  private readonly ipCache = new Map<string, ParsedIp | null>();
  private readonly memo = new Map<string, { sig: string; value: unknown }>();
  private readonly myHost: string;
  private readonly myBlocks: string;

  constructor(readonly nodeName: string) {
    this.myHost = `${H}${nodeName}/`;
    this.myBlocks = `${BLOCKS}${nodeName}/`;
  }

  static from(keys: ReadonlyMap<string, string>, nodeName: string): KeyIndex {
    const idx = new KeyIndex(nodeName);
    for (const [k, v] of keys) idx.set(k, v);
    return idx;
  }

  apply(changes: readonly KeyChange[]): void {
    for (const c of changes) {
      if (c.value === null) this.delete(c.key);
      else this.set(c.key, c.value);
    }
  }

  set(key: string, value: string): void {
    this.route(key, value);
  }

  delete(key: string): void {
    this.route(key, null);
    this.memo.delete(key);
  }

  /** A scalar setting (global or this node's), by full key. */
  get(key: string): string | undefined {
    return this.scalars.get(key);
  }

  has(key: string): boolean {
    return this.scalars.has(key);
  }

  /** Parses an address once per distinct text. */
  ip(text: string): ParsedIp | undefined {
    let p = this.ipCache.get(text);
    if (p === undefined) {
      if (this.ipCache.size > 4 * (this.hosts.size + 1000)) this.ipCache.clear();
      p = parseIp(text) ?? null;
      this.ipCache.set(text, p);
    }
    return p ?? undefined;
  }

  /** Returns the memoised value for `id` if it was computed with the same `sig`, else computes and stores it. */
  memoize<T>(id: string, sig: string, compute: () => T): T {
    const m = this.memo.get(id);
    if (m !== undefined && m.sig === sig) return m.value as T;
    const value = compute();
    this.memo.set(id, { sig, value });
    return value;
  }

  // ---------------------------------------------------------------------------

  private route(key: string, value: string | null): void {
    if (key.startsWith(H)) {
      const slash = key.indexOf('/', H.length);
      if (slash < 0) return;
      const leaf = key.slice(slash + 1);
      const field = HOST_FIELDS[leaf];
      if (field !== undefined) {
        const n = key.slice(H.length, slash);
        this.setHostField(n, field, value ?? '');
        if (key.startsWith(this.myHost)) this.scalar(key, value);
        return;
      }
      if (!key.startsWith(this.myHost)) return;
      if (leaf.startsWith('peer_v4/')) this.entry(this.nodePeers, key, value, { family: 4 as Family });
      else if (leaf.startsWith('peer_v6/')) this.entry(this.nodePeers, key, value, { family: 6 as Family });
      else this.scalar(key, value);
      return;
    }
    if (key.startsWith(G)) {
      if (key.startsWith('peer_v4/', G.length)) this.entry(this.globalPeers, key, value, { family: 4 as Family });
      else if (key.startsWith('peer_v6/', G.length)) this.entry(this.globalPeers, key, value, { family: 6 as Family });
      else this.scalar(key, value);
      return;
    }
    if (key.startsWith(POOL4)) return this.entry(this.pools, key, value, { family: 4 as Family });
    if (key.startsWith(POOL6)) return this.entry(this.pools, key, value, { family: 6 as Family });
    if (key.startsWith(this.myBlocks)) {
      const rest = key.slice(this.myBlocks.length);
      const family: Family | undefined = rest.startsWith('ipv4/block/') ? 4 : rest.startsWith('ipv6/block/') ? 6 : undefined;
      if (family === undefined) return;
      if (value === null) this.blocks.delete(key);
      else this.blocks.set(key, { family, value, part: rest.slice('ipv4/block/'.length) });
      return;
    }
    if (key.startsWith('/calico/staticroutes') || key.startsWith('/calico/rejectcidrs')) {
      const slash = key.indexOf('/', 8);
      const kind = ROUTES[key.slice(0, slash + 1)];
      if (kind === undefined) return;
      if (value === null) this.routes.delete(key);
      else this.routes.set(key, { ...kind, part: key.slice(slash + 1) });
    }
  }

  private scalar(key: string, value: string | null): void {
    if (value === null) this.scalars.delete(key);
    else this.scalars.set(key, value);
  }

  private entry(m: SortedMap<FamilyEntry>, key: string, value: string | null, e: { family: Family }): void {
    if (value === null) m.delete(key);
    else m.set(key, { family: e.family, value });
  }

  private setHostField(name: string, field: keyof HostInfo, value: string): void {
    let h = this.hosts.get(name);
    if (h === undefined) {
      if (value === '') return;
      h = { v4: '', v6: '', as: '', rr: '', listenPort: '' };
      this.hosts.set(name, h);
    }
    h[field] = value;
    if (h.v4 === '' && h.v6 === '' && h.as === '' && h.rr === '' && h.listenPort === '') {
      this.hosts.delete(name);
      this.memo.delete(`mesh4:${name}`);
      this.memo.delete(`mesh6:${name}`);
    }
  }
}
