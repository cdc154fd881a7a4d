/**
 * Best path selection.
 *
 * Decision order (RFC 4271 section 9.1.2.2, with RFC 4456 section 9 for
 * reflected routes and RFC 9494 for long-lived stale routes):
 *
 *   1. locally originated routes win over learned ones
 *   2. routes not LLGR-stale win over LLGR-stale ones
 *   3. highest LOCAL_PREF (missing: 100)
 *   4. shortest AS_PATH (a SET counts 1, confederation segments 0)
 *   5. lowest ORIGIN (IGP < EGP < INCOMPLETE)
 *   6. lowest MULTI_EXIT_DISC, only between routes from the same neighbor AS
 *      (missing: 0); never across neighbor ASes (there is no always-compare
 *      option)
 *   7. routes from external peers over routes from internal peers
 *   -- routes equal up to here are equal-cost multipath candidates --
 *   8. shortest CLUSTER_LIST
 *   9. lowest ORIGINATOR_ID, else BGP identifier, of the advertising peer
 *  10. lowest peer address
 *  11. lowest ADD-PATH path identifier
 *
 * Each comparison reports the step that decided it, so `routes` output and
 * tests can say *why* a path won.
 *
 * MED makes the pairwise comparison intransitive once paths come from more
 * than one neighbor AS (A beats B on MED, B beats C on router id, C beats A
 * on router id), so a plain "keep the better one" scan would pick a winner
 * that depends on arrival order. `selectBest` therefore runs step 6 as the
 * RFC writes it, by elimination: within the paths tied up to ORIGIN, a path
 * is dropped when another from its neighbor AS has a lower MED, and only the
 * survivors are compared further. That is the result Cisco's and BIRD's
 * "deterministic MED" options give; we have no non-deterministic mode.
 */
import { parseIpv4, parseIpv6, type PathAttributes } from '../packet/index.js';
import type { AttrSet } from './intern.js';

/** Where a path came from. */
export interface PathSource {
  readonly name: string;
  readonly address: string;
  /** Peer's BGP identifier as a number. */
  readonly routerId: number;
  readonly peerType: 'internal' | 'external';
  /** Numeric form of the address for tie-breaking (IPv4 as u32, IPv6 compared as text). */
  readonly addressKey: number | string;
}

export interface Path {
  /** null: originated by this speaker. */
  readonly source: PathSource | null;
  readonly attrs: AttrSet;
  readonly pathId: number;
  /** 0 fresh, 1 stale after a graceful restart (RFC 4724), 2 long-lived stale (RFC 9494). */
  stale: 0 | 1 | 2;
}

export type DecisionStep =
  | 'local'
  | 'llgrStale'
  | 'localPref'
  | 'asPathLength'
  | 'origin'
  | 'med'
  | 'external'
  | 'clusterListLength'
  | 'routerId'
  | 'peerAddress'
  | 'pathId'
  | 'equal';

/** Steps after which two paths still count as equal-cost (multipath). */
export const MULTIPATH_STEPS: ReadonlySet<DecisionStep> = new Set(['clusterListLength', 'routerId', 'peerAddress', 'pathId', 'equal']);

export function asPathLength(a: Readonly<PathAttributes>): number {
  let n = 0;
  for (const seg of a.asPath ?? []) {
    if (seg.type === 2) n += seg.asns.length;
    else if (seg.type === 1) n += 1;
  }
  return n;
}

/**
 * The neighbor AS of a path (RFC 4271 9.1.2.2 (c)): the first AS of a path
 * that begins with an AS_SEQUENCE; 0, standing for our own AS, when the path
 * is empty or begins with an AS_SET (originated or aggregated inside our AS).
 * Confederation segments are looked past.
 */
export function neighborAs(a: Readonly<PathAttributes>): number {
  const first = a.asPath?.find((s) => s.type === 2 || s.type === 1);
  return first?.type === 2 ? (first.asns[0] ?? 0) : 0;
}

/**
 * The key `PathSource.addressKey` holds for a peer address: IPv4 as its
 * u32 value, IPv6 as 32 hex digits (text order is then numeric order).
 */
export function peerAddressKey(address: string): number | string {
  const v4 = parseIpv4(address);
  if (v4 !== undefined) return v4;
  const v6 = parseIpv6(address);
  if (v6 === undefined) return address;
  return v6.map((w) => (w >>> 0).toString(16).padStart(8, '0')).join('');
}

/** Lower address first; every IPv4 address below every IPv6 one. */
function compareAddressKeys(a: number | string, b: number | string): number {
  if (typeof a !== typeof b) return typeof a === 'number' ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function tieBreakId(p: Path): number {
  const oid = p.attrs.attrs.originatorId;
  if (oid !== undefined) return parseIpv4(oid) ?? 0;
  return p.source?.routerId ?? 0;
}

type Decision = { order: number; step: DecisionStep };

/** Steps 1-5: between any two paths these are a total order. null: tied through ORIGIN. */
function compareBeforeMed(a: Path, b: Path): Decision | null {
  const aa = a.attrs.attrs;
  const ba = b.attrs.attrs;
  if ((a.source === null) !== (b.source === null)) return { order: a.source === null ? -1 : 1, step: 'local' };
  if ((a.stale === 2) !== (b.stale === 2)) return { order: a.stale === 2 ? 1 : -1, step: 'llgrStale' };
  const lpA = aa.localPref ?? 100;
  const lpB = ba.localPref ?? 100;
  if (lpA !== lpB) return { order: lpB - lpA, step: 'localPref' };
  const lenA = asPathLength(aa);
  const lenB = asPathLength(ba);
  if (lenA !== lenB) return { order: lenA - lenB, step: 'asPathLength' };
  const oA = aa.origin ?? 2;
  const oB = ba.origin ?? 2;
  if (oA !== oB) return { order: oA - oB, step: 'origin' };
  return null;
}

/** Step 6 between two paths. null: not comparable or equal. */
function compareMed(a: Path, b: Path): Decision | null {
  // "MULTI_EXIT_DISC is only comparable between routes learned from the same
  //  neighboring AS".
  if (neighborAs(a.attrs.attrs) !== neighborAs(b.attrs.attrs)) return null;
  const mA = a.attrs.attrs.med ?? 0;
  const mB = b.attrs.attrs.med ?? 0;
  return mA === mB ? null : { order: mA < mB ? -1 : 1, step: 'med' };
}

/** Steps 7-11: a total order, ending in 'equal' only for the same source and path id. */
function compareAfterMed(a: Path, b: Path): Decision {
  const aa = a.attrs.attrs;
  const ba = b.attrs.attrs;
  const extA = a.source?.peerType === 'external';
  const extB = b.source?.peerType === 'external';
  if (extA !== extB) return { order: extA ? -1 : 1, step: 'external' };
  const clA = aa.clusterList?.length ?? 0;
  const clB = ba.clusterList?.length ?? 0;
  if (clA !== clB) return { order: clA - clB, step: 'clusterListLength' };
  const idA = tieBreakId(a);
  const idB = tieBreakId(b);
  if (idA !== idB) return { order: idA < idB ? -1 : 1, step: 'routerId' };
  const address = compareAddressKeys(a.source?.addressKey ?? 0, b.source?.addressKey ?? 0);
  if (address !== 0) return { order: address, step: 'peerAddress' };
  if (a.pathId !== b.pathId) return { order: a.pathId - b.pathId, step: 'pathId' };
  return { order: 0, step: 'equal' };
}

/**
 * Compares two paths for the same prefix. Negative: `a` is better; positive:
 * `b` is better; with the step that decided. Between paths from different
 * neighbor ASes this is not transitive (see above): pick a best among
 * several with `selectBest`.
 */
export function comparePaths(a: Path, b: Path): Decision {
  return compareBeforeMed(a, b) ?? compareMed(a, b) ?? compareAfterMed(a, b);
}

/** Position of each step in the decision order. */
export const STEP_RANK: Record<DecisionStep, number> = {
  local: 0,
  llgrStale: 1,
  localPref: 2,
  asPathLength: 3,
  origin: 4,
  med: 5,
  external: 6,
  clusterListLength: 7,
  routerId: 8,
  peerAddress: 9,
  pathId: 10,
  equal: 11,
};

export interface Selection {
  best: Path | null;
  /** The best path plus every path equal-cost with it (best first). */
  multipath: Path[];
  /** Why the best path beat the runner-up ('equal' with one path). */
  step: DecisionStep;
}

/**
 * The paths that survive steps 1-6: those tied at the top through ORIGIN,
 * less any that another of them from the same neighbor AS beats on MED
 * (RFC 4271 9.1.2.2 (c), by elimination).
 */
function survivorsOfMed(paths: readonly Path[]): { tied: Set<Path>; survivors: Path[] } {
  let top = paths[0]!;
  for (const p of paths) if ((compareBeforeMed(p, top)?.order ?? 0) < 0) top = p;
  const tied = new Set(paths.filter((p) => compareBeforeMed(p, top) === null));
  const lowestMed = new Map<number, number>();
  for (const p of tied) {
    const as = neighborAs(p.attrs.attrs);
    const med = p.attrs.attrs.med ?? 0;
    if (med < (lowestMed.get(as) ?? Infinity)) lowestMed.set(as, med);
  }
  const survivors = [...tied].filter((p) => (p.attrs.attrs.med ?? 0) === lowestMed.get(neighborAs(p.attrs.attrs)));
  return { tied, survivors };
}

/** Picks the best path and the multipath set among candidates. */
export function selectBest(paths: readonly Path[]): Selection {
  if (paths.length === 0) return { best: null, multipath: [], step: 'equal' };
  const { tied, survivors } = survivorsOfMed(paths);
  let best = survivors[0]!;
  for (const p of survivors) if (compareAfterMed(p, best).order < 0) best = p;
  const multipath = [best];
  let closest: DecisionStep | null = null;
  for (const p of paths) {
    if (p === best) continue;
    let step: DecisionStep;
    if (!tied.has(p)) step = compareBeforeMed(best, p)!.step;
    else if (!survivors.includes(p)) step = 'med';
    else {
      step = compareAfterMed(best, p).step;
      if (MULTIPATH_STEPS.has(step) && best.source !== null && p.source !== null) multipath.push(p);
    }
    // The runner-up is the path that survived longest against the best one.
    if (closest === null || STEP_RANK[step] > STEP_RANK[closest]) closest = step;
  }
  return { best, multipath, step: closest ?? 'equal' };
}

/** Whether every path comes from one neighbor AS, where `comparePaths` is a total order and a pairwise scan is exact. */
export function oneNeighborAs(paths: Iterable<Path>): boolean {
  let as: number | null = null;
  for (const p of paths) {
    const n = neighborAs(p.attrs.attrs);
    if (as === null) as = n;
    else if (n !== as) return false;
  }
  return true;
}
