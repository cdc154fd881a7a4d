/**
 * A slow, literal reading of the BGP decision process, written apart from
 * src/bgp/rib/best-path.ts so tests can use it as an independent oracle.
 *
 * RFC 4271 9.1.2.2 is written as successive eliminations ("remove from
 * consideration ..."), and so is this: each step keeps only the candidates
 * that are best at it, in the RFC's order, with RFC 4456 9 (CLUSTER_LIST
 * length, ORIGINATOR_ID in place of the BGP Identifier) for reflected routes.
 * The steps the RFC leaves to the implementation are ours, in the order
 * best-path.ts documents: locally originated routes first, then routes that
 * are not long-lived stale (RFC 9494 4.3), and the ADD-PATH identifier as the
 * last tie-breaker. Step (e) (interior cost to the NEXT_HOP) does not exist
 * here: we have no IGP.
 *
 * No speed tricks: every step scans every candidate.
 */
import { parseIpv4, parseIpv6, type PathAttributes } from '../../src/bgp/packet/index.js';
import type { Path } from '../../src/bgp/rib/best-path.js';

const AS_SET = 1;
const AS_SEQUENCE = 2;

/** RFC 4271 9.1.2.2 (a): a missing LOCAL_PREF is taken as this speaker's default, 100. */
function localPref(a: PathAttributes): number {
  return a.localPref ?? 100;
}

/** RFC 4271 9.1.2.2 (a): "an AS_SET counts as 1 ... regardless of how many ASes are in the set"; RFC 5065 5.3: confederation segments count 0. */
function asPathLength(a: PathAttributes): number {
  let length = 0;
  for (const segment of a.asPath ?? []) {
    if (segment.type === AS_SEQUENCE) length += segment.asns.length;
    if (segment.type === AS_SET) length += 1;
  }
  return length;
}

/** RFC 4271 9.1.2.2 (b): IGP < EGP < INCOMPLETE. */
function origin(a: PathAttributes): number {
  return a.origin ?? 2;
}

/** RFC 4271 9.1.2.2 (c): "routes that do not have the MULTI_EXIT_DISC attribute are considered to have the lowest possible MULTI_EXIT_DISC value". */
function med(a: PathAttributes): number {
  return a.med ?? 0;
}

/**
 * RFC 4271 9.1.2.2 (c): the neighbour AS is the AS the route was learned
 * from: the first AS of a path that begins with an AS_SEQUENCE; the local AS
 * (here: 'local') when the path is empty or begins with an AS_SET. The
 * segments a confederation adds inside our own AS (RFC 5065) are looked past.
 */
function neighborAs(a: PathAttributes): number | 'local' {
  const first = (a.asPath ?? []).find((s) => s.type === AS_SEQUENCE || s.type === AS_SET);
  if (first === undefined || first.type === AS_SET) return 'local';
  return first.asns[0] ?? 'local';
}

/** RFC 4271 9.1.2.2 (f), RFC 4456 9: ORIGINATOR_ID stands in for the BGP Identifier. */
function identifier(p: Path): number {
  const originator = p.attrs.attrs.originatorId;
  if (originator !== undefined) return parseIpv4(originator) ?? 0;
  return p.source?.routerId ?? 0;
}

/** RFC 4271 9.1.2.2 (g): the peer address as an unsigned number; IPv4 below IPv6. */
function peerAddress(p: Path): bigint {
  const text = p.source?.address;
  if (text === undefined) return 0n;
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return BigInt(v4);
  const v6 = parseIpv6(text);
  if (v6 === undefined) throw new Error(`reference: not an address: ${text}`);
  return (1n << 128n) + v6.reduce((acc, word) => (acc << 32n) + BigInt(word >>> 0), 0n);
}

/** Keeps the candidates whose `value` is the lowest. */
function keepLowest<T extends number | bigint>(paths: Path[], value: (p: Path) => T): Path[] {
  let lowest: T | null = null;
  for (const p of paths) if (lowest === null || value(p) < lowest) lowest = value(p);
  return paths.filter((p) => value(p) === lowest);
}

/** The RFC 4271 9.1.2.2 (c) pseudo-code: drop m when another route from the same neighbour AS has a lower MED. */
function keepLowestMedPerNeighborAs(paths: Path[]): Path[] {
  return paths.filter((m) => !paths.some((n) => neighborAs(n.attrs.attrs) === neighborAs(m.attrs.attrs) && med(n.attrs.attrs) < med(m.attrs.attrs)));
}

export interface ReferenceSelection {
  best: Path | null;
  /** The learned routes still in consideration after step (d): the equal-cost set. */
  multipath: Path[];
}

/** The best path, and the paths that tie with it up to the eBGP/iBGP step, among `paths`. */
export function referenceBestPath(paths: readonly Path[]): ReferenceSelection {
  let left = [...paths];
  if (left.length === 0) return { best: null, multipath: [] };
  // Ours: a route this speaker originates wins over any learned one.
  if (left.some((p) => p.source === null)) left = left.filter((p) => p.source === null);
  // RFC 9494 4.3: long-lived stale routes lose to any that is not.
  if (left.some((p) => p.stale !== 2)) left = left.filter((p) => p.stale !== 2);
  // RFC 4271 9.1.2.1: the degree of preference is LOCAL_PREF, the highest wins.
  left = keepLowest(left, (p) => -localPref(p.attrs.attrs));
  // 9.1.2.2 (a) shortest AS_PATH, (b) lowest ORIGIN, (c) lowest MED within a neighbour AS.
  left = keepLowest(left, (p) => asPathLength(p.attrs.attrs));
  left = keepLowest(left, (p) => origin(p.attrs.attrs));
  left = keepLowestMedPerNeighborAs(left);
  // (d) "If at least one of the candidate routes was received via EBGP, remove from consideration all routes that were received via IBGP."
  if (left.some((p) => p.source?.peerType === 'external')) left = left.filter((p) => p.source?.peerType === 'external');
  const multipath = left.every((p) => p.source !== null) ? [...left] : [];
  // RFC 4456 9: shortest CLUSTER_LIST; then (f) lowest identifier, (g) lowest peer address.
  left = keepLowest(left, (p) => p.attrs.attrs.clusterList?.length ?? 0);
  left = keepLowest(left, identifier);
  left = keepLowest(left, peerAddress);
  // Ours: one peer's ADD-PATH paths differ at least by their identifier.
  left = keepLowest(left, (p) => p.pathId);
  const best = left[0] ?? null;
  if (left.length !== 1) throw new Error(`reference: ${left.length} paths left after the last step`);
  return { best, multipath: best?.source === null ? [best] : multipath };
}
