/**
 * What we send a peer for one path: the BGP rules (RFC 4271 section 9.1.3
 * and RFC 4456 section 8 for reflection) and Calico's export filter, applied
 * to one destination's chosen paths for one class of peers.
 */
import type { PathAttributes } from '../packet/index.js';
import type { Path } from '../rib/best-path.js';
import { ipv4ToString } from '../packet/index.js';

/** Everything that makes two peers receive the same UPDATEs (an update group's identity). */
export interface ExportClass {
  family: 4 | 6;
  peerType: 'internal' | 'external';
  localAs: number;
  /** This speaker reflects routes (it has a cluster id). */
  reflector: boolean;
  clusterId: string | null;
  /** The peers of this class are route-reflector clients. */
  rrClient: boolean;
  nextHop: 'auto' | 'keep' | 'self';
  /** Our address on the sessions of this class, used for next-hop self. */
  selfAddress: string;
}

export function classSignature(c: ExportClass): string {
  return JSON.stringify(c);
}

/**
 * RFC 4456 section 6: a reflector sends routes from non-clients to clients
 * only, routes from clients to everyone; a plain iBGP speaker sends no
 * iBGP-learned route to an iBGP peer (RFC 4271 section 9.2.1).
 */
export function mayAdvertise(path: Path, cls: ExportClass, sourceIsClient: boolean): boolean {
  const src = path.source;
  if (src === null || src.peerType === 'external' || cls.peerType === 'external') return true;
  if (!cls.reflector) return false;
  return sourceIsClient || cls.rrClient;
}

/**
 * Attributes to send for `path` to peers of class `cls`, given that Calico's
 * export filter accepted the prefix with these communities.
 */
export function exportAttributes(
  path: Path,
  cls: ExportClass,
  decision: { communities: readonly number[]; largeCommunities: readonly [number, number, number][] },
): { attrs: PathAttributes; nextHops: string[] } {
  const src = path.source;
  const a: PathAttributes = { ...path.attrs.attrs };
  let nextHops = [...path.attrs.nextHops];
  const local = src === null;
  if (local) {
    a.origin = a.origin ?? 0;
    a.asPath = a.asPath ?? [];
  }
  if (cls.peerType === 'external') {
    // Prepend our AS; LOCAL_PREF, reflection attributes and (for learned
    // routes) MED stay inside our AS.
    const first = a.asPath?.[0];
    a.asPath = first !== undefined && first.type === 2 && first.asns.length < 255
      ? [{ type: 2, asns: [cls.localAs, ...first.asns] }, ...a.asPath!.slice(1)]
      : [{ type: 2, asns: [cls.localAs] }, ...(a.asPath ?? [])];
    delete a.localPref;
    delete a.originatorId;
    delete a.clusterList;
    if (!local) delete a.med;
    if (cls.nextHop !== 'keep') nextHops = [cls.selfAddress];
  } else {
    a.localPref = a.localPref ?? 100;
    if (src !== null && src.peerType === 'internal' && cls.reflector) {
      // RFC 4456 section 8: ORIGINATOR_ID is set once, by the first reflector;
      // each reflector prepends its CLUSTER_ID.
      a.originatorId = a.originatorId ?? ipv4ToString(src.routerId);
      a.clusterList = [cls.clusterId!, ...(a.clusterList ?? [])];
    }
    if (local || cls.nextHop === 'self') nextHops = [cls.selfAddress];
  }
  if (decision.communities.length > 0) a.communities = [...new Set([...(a.communities ?? []), ...decision.communities])];
  if (decision.largeCommunities.length > 0) a.largeCommunities = [...(a.largeCommunities ?? []), ...decision.largeCommunities];
  if (cls.family === 4) {
    a.nextHop = nextHops[0] ?? cls.selfAddress;
    return { attrs: a, nextHops: [a.nextHop] };
  }
  delete a.nextHop;
  // A link-local next hop means nothing beyond the link it was learned on.
  return { attrs: a, nextHops: [nextHops[0] ?? cls.selfAddress] };
}
