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
 *      (missing: 0)
 *   7. routes from external peers over routes from internal peers
 *   -- routes equal up to here are equal-cost multipath candidates --
 *   8. shortest CLUSTER_LIST
 *   9. lowest ORIGINATOR_ID, else BGP identifier, of the advertising peer
 *  10. lowest peer address
 *  11. lowest ADD-PATH path identifier
 *
 * Each comparison reports the step that decided it, so `routes` output and
 * tests can say *why* a path won.
 */
import { parseIpv4, type PathAttributes } from '../packet/index.js';
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

/** The neighbor AS of a path: the first AS of the first AS_SEQUENCE, 0 for none (local/iBGP-originated). */
export function neighborAs(a: Readonly<PathAttributes>): number {
  const first = a.asPath?.find((s) => s.type === 2 || s.type === 1);
  return first?.asns[0] ?? 0;
}

function tieBreakId(p: Path): number {
  const oid = p.attrs.attrs.originatorId;
  if (oid !== undefined) return parseIpv4(oid) ?? 0;
  return p.source?.routerId ?? 0;
}

/**
 * Compares two paths for the same prefix. Negative: `a` is better; positive:
 * `b` is better; with the step that decided.
 */
export function comparePaths(a: Path, b: Path): { order: number; step: DecisionStep } {
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
  // "MULTI_EXIT_DISC is only comparable between routes learned from the same
  //  neighboring AS".
  if (neighborAs(aa) === neighborAs(ba)) {
    const mA = aa.med ?? 0;
    const mB = ba.med ?? 0;
    if (mA !== mB) return { order: mA < mB ? -1 : 1, step: 'med' };
  }
  const extA = a.source?.peerType === 'external';
  const extB = b.source?.peerType === 'external';
  if (extA !== extB) return { order: extA ? -1 : 1, step: 'external' };
  const clA = aa.clusterList?.length ?? 0;
  const clB = ba.clusterList?.length ?? 0;
  if (clA !== clB) return { order: clA - clB, step: 'clusterListLength' };
  const idA = tieBreakId(a);
  const idB = tieBreakId(b);
  if (idA !== idB) return { order: idA < idB ? -1 : 1, step: 'routerId' };
  const adA = a.source?.addressKey ?? 0;
  const adB = b.source?.addressKey ?? 0;
  if (adA !== adB) return { order: adA < adB ? -1 : 1, step: 'peerAddress' };
  if (a.pathId !== b.pathId) return { order: a.pathId - b.pathId, step: 'pathId' };
  return { order: 0, step: 'equal' };
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

/** Picks the best path and the multipath set among candidates. */
export function selectBest(paths: readonly Path[]): Selection {
  if (paths.length === 0) return { best: null, multipath: [], step: 'equal' };
  let best = paths[0]!;
  for (let i = 1; i < paths.length; i++) if (comparePaths(paths[i]!, best).order < 0) best = paths[i]!;
  const multipath = [best];
  let step: DecisionStep = 'equal';
  let closest: DecisionStep | null = null;
  for (const p of paths) {
    if (p === best) continue;
    const c = comparePaths(best, p);
    if (MULTIPATH_STEPS.has(c.step) && best.source !== null && p.source !== null) multipath.push(p);
    // The runner-up is the path that survived longest against the best one.
    if (closest === null || STEP_RANK[c.step] > STEP_RANK[closest]) closest = c.step;
  }
  if (closest !== null) step = closest;
  return { best, multipath, step };
}
