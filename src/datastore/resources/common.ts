/**
 * Shared pieces of the resource -> key view conversion: key builders, the
 * index of nodes, and small value readers that report bad input as Problems.
 */
import type { Resource } from '../types.js';
import type { Problem } from './problem.js';

export const BGP_PREFIX = '/calico/bgp/v1';
export const GLOBAL_PREFIX = `${BGP_PREFIX}/global`;
export const HOST_PREFIX = `${BGP_PREFIX}/host`;
export const DEFAULT_AS = '64512';

export const globalKey = (name: string): string => `${GLOBAL_PREFIX}/${name}`;
export const hostKey = (node: string, name: string): string => `${HOST_PREFIX}/${node}/${name}`;

/** `Kind/name` (or `Kind/namespace/name` for namespaced core objects). */
export function resourceName(r: Resource): string {
  const ns = r.metadata?.namespace;
  const name = r.metadata?.name ?? '<unnamed>';
  return ns ? `${r.kind}/${ns}/${name}` : `${r.kind}/${name}`;
}

/** A Calico node as the conversion sees it, after merging a Kubernetes Node and a v3 Node. */
export interface NodeInfo {
  name: string;
  labels: Record<string, string>;
  bgp?: {
    ipv4Address?: unknown;
    ipv6Address?: unknown;
    asNumber?: unknown;
    routeReflectorClusterID?: unknown;
  };
  podCidrs: string[];
  /** `Kind/name` of the resource that defined it (for problems). */
  source: string;
  /** The values written to its host keys (set by the node conversion; saves re-reading the keys). */
  written?: { v4: string; v6: string; as: string; rr: string };
}

/** Collects problems and passes them to the caller in order. */
export class ProblemSink {
  readonly list: Problem[] = [];
  add(resource: string, message: string): void {
    this.list.push({ resource, message });
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Label values may come from YAML as booleans or numbers (`routeReflector: true`); Kubernetes stores strings. */
export function stringLabels(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isRecord(v)) return out;
  for (const [k, val] of Object.entries(v)) {
    if (val === null || val === undefined) out[k] = '';
    else if (typeof val === 'object') out[k] = JSON.stringify(val);
    else out[k] = String(val);
  }
  return out;
}

export function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}
