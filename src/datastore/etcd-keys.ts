/**
 * What the etcd backend reads, per layout, and how it checks single values.
 *
 * Legacy layout: the key view itself (see ../shared/design.md), so each etcd
 * key is validated and passed through.
 *
 * v3 layout: Calico's libcalico-go etcdv3 backend stores each
 * projectcalico.org/v3 resource as JSON at
 * `/calico/resources/v3/projectcalico.org/<plural>/<name>` (namespaced kinds:
 * `<plural>/<namespace>/<name>`). Block affinities are the exception: Calico
 * keeps them in etcd under the v1 model key
 * `/calico/ipam/v2/host/<node>/ipv4/block/<cidr>` even in v3 mode, so those
 * pass through as legacy keys.
 */
import type { Resource } from './types.js';
import { parseIpv4, parseIpv6, parsePrefixLength } from '../net/ip.js';

// ---------------------------------------------------------------------------
// Prefixes
// ---------------------------------------------------------------------------

/** Prefixes of the legacy key view. */
export const LEGACY_PREFIXES: readonly string[] = [
  '/calico/bgp/v1/',
  '/calico/v1/ipam/',
  '/calico/ipam/v2/host/',
  '/calico/staticroutes/',
  '/calico/rejectcidrs/',
];

export const V3_ROOT = '/calico/resources/v3/projectcalico.org/';

/** The v3 kinds the BGP view needs, by their etcd path segment. */
export const V3_KINDS: Readonly<Record<string, string>> = {
  bgpconfigurations: 'BGPConfiguration',
  bgppeers: 'BGPPeer',
  bgpfilters: 'BGPFilter',
  nodes: 'Node',
  ippools: 'IPPool',
  blockaffinities: 'BlockAffinity',
};

/** Prefixes read in the v3 layout: the kinds above plus block affinities. */
export const V3_PREFIXES: readonly string[] = [
  ...Object.keys(V3_KINDS).map((plural) => `${V3_ROOT}${plural}/`),
  '/calico/ipam/v2/host/',
];

/** The smallest key greater than every key with this prefix (etcd range_end). */
export function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const out = Buffer.from(b.subarray(0, i + 1));
      out[i] = b[i]! + 1;
      return out;
    }
  }
  return Buffer.from([0]);
}

// ---------------------------------------------------------------------------
// v3 resources
// ---------------------------------------------------------------------------

/** Result of reading one etcd value as a v3 resource. */
export type ParsedResource = { ok: true; resource: Resource } | { ok: false; reason: string };

/**
 * Parses the JSON stored at a v3 resource key. Kind, apiVersion, name and
 * namespace default from the key path (Calico writes them, but a
 * hand-written value may leave them out); a value that contradicts its key
 * is rejected.
 */
export function parseV3Resource(key: string, value: string): ParsedResource {
  if (!key.startsWith(V3_ROOT)) return { ok: false, reason: 'not a v3 resource key' };
  const parts = key.slice(V3_ROOT.length).split('/');
  const plural = parts[0]!;
  const kind = V3_KINDS[plural];
  if (kind === undefined) return { ok: false, reason: `unsupported kind path "${plural}"` };
  if (parts.length !== 2 && parts.length !== 3) return { ok: false, reason: 'unexpected key depth' };
  const name = parts[parts.length - 1]!;
  const namespace = parts.length === 3 ? parts[1] : undefined;
  if (name === '') return { ok: false, reason: 'empty name' };

  let obj: unknown;
  try {
    obj = JSON.parse(value);
  } catch {
    return { ok: false, reason: 'value is not JSON' };
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    return { ok: false, reason: 'value is not a JSON object' };
  }
  const o = obj as Record<string, unknown>;
  if (o.kind !== undefined && o.kind !== kind) return { ok: false, reason: `kind ${String(o.kind)} under ${plural}` };
  const meta = o.metadata;
  if (meta !== undefined && (meta === null || typeof meta !== 'object' || Array.isArray(meta))) {
    return { ok: false, reason: 'metadata is not an object' };
  }
  const m = { ...((meta as Record<string, unknown> | undefined) ?? {}) };
  if (m.name !== undefined && m.name !== name) return { ok: false, reason: 'metadata.name differs from key' };
  m.name = name;
  if (namespace !== undefined) m.namespace = namespace;
  if (o.spec !== undefined && (o.spec === null || typeof o.spec !== 'object' || Array.isArray(o.spec))) {
    return { ok: false, reason: 'spec is not an object' };
  }
  const resource = {
    ...o,
    apiVersion: typeof o.apiVersion === 'string' ? o.apiVersion : 'projectcalico.org/v3',
    kind,
    metadata: m as Resource['metadata'],
  } as Resource;
  return { ok: true, resource };
}

// ---------------------------------------------------------------------------
// Legacy values
// ---------------------------------------------------------------------------

const AS_RE = /^\d+(\.\d+)?$/;
function isIPv4(s: string): boolean {
  return parseIpv4(s) !== undefined;
}

function isIPv6(s: string): boolean {
  return parseIpv6(s) !== undefined;
}

/** `addr/len` of the given family, checked by the address text (a mapped IPv6 address stays IPv6 here). */
function isCidr(s: string, v: 4 | 6): boolean {
  const slash = s.indexOf('/');
  if (slash < 0) return false;
  const ip = s.slice(0, slash);
  if (v === 4 ? !isIPv4(ip) : !isIPv6(ip)) return false;
  return parsePrefixLength(s, slash + 1, s.length, v === 4 ? 32 : 128) !== undefined;
}

function jsonObject(value: string): string | undefined {
  try {
    const v: unknown = JSON.parse(value);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'value is not a JSON object';
    return undefined;
  } catch {
    return 'value is not JSON';
  }
}

/**
 * Checks one legacy key/value pair. Returns the reason it is unusable, or
 * undefined when it is fine. Keys we do not know are passed through (later
 * Calico versions add global settings); only known keys are checked.
 */
export function checkLegacyValue(key: string, value: string): string | undefined {
  const p = key.split('/');
  // ['', 'calico', 'bgp', 'v1', 'global'|'host', ...]
  if (key.startsWith('/calico/bgp/v1/global/')) {
    const leaf = p.slice(5).join('/');
    if (leaf === 'as_num') return AS_RE.test(value) ? undefined : 'AS number is not a number';
    if (leaf === 'node_mesh') return jsonObject(value);
    if (p[5] === 'peer_v4' || p[5] === 'peer_v6') return checkPeer(p[5], p[6], value);
    return undefined;
  }
  if (key.startsWith('/calico/bgp/v1/host/')) {
    const leaf = p[6];
    switch (leaf) {
      case 'ip_addr_v4':
        return value === '' || isIPv4(value) ? undefined : 'not an IPv4 address';
      case 'ip_addr_v6':
        return value === '' || isIPv6(value) ? undefined : 'not an IPv6 address';
      case 'as_num':
        return value === '' || AS_RE.test(value) ? undefined : 'AS number is not a number';
      case 'network_v4':
        return value === '' || isCidr(value, 4) ? undefined : 'not an IPv4 CIDR';
      case 'network_v6':
        return value === '' || isCidr(value, 6) ? undefined : 'not an IPv6 CIDR';
      case 'peer_v4':
      case 'peer_v6':
        return checkPeer(leaf, p[7], value);
      default:
        return undefined;
    }
  }
  if (key.startsWith('/calico/v1/ipam/v4/pool/') || key.startsWith('/calico/v1/ipam/v6/pool/')) {
    const bad = jsonObject(value);
    if (bad) return bad;
    const cidr = (JSON.parse(value) as { cidr?: unknown }).cidr;
    return typeof cidr === 'string' ? undefined : 'pool has no "cidr"';
  }
  if (key.startsWith('/calico/ipam/v2/host/')) {
    // Calico v2 wrote an empty value; v3 writes {"state": ..., "deleted": ...}.
    return value === '' ? undefined : jsonObject(value);
  }
  return undefined;
}

function checkPeer(family: string, ipSegment: string | undefined, value: string): string | undefined {
  if (ipSegment === undefined || ipSegment === '') return 'peer key has no address';
  const bad = jsonObject(value);
  if (bad) return bad;
  const peer = JSON.parse(value) as { ip?: unknown; as_num?: unknown };
  if (typeof peer.ip !== 'string') return 'peer has no "ip"';
  if (family === 'peer_v4' ? !isIPv4(peer.ip) : !isIPv6(peer.ip)) return `peer ip is not ${family === 'peer_v4' ? 'IPv4' : 'IPv6'}`;
  if (peer.as_num !== undefined && !AS_RE.test(String(peer.as_num))) return 'peer AS number is not a number';
  return undefined;
}
