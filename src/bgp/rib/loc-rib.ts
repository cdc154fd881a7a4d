/**
 * Adj-RIB-In per peer and the Loc-RIB, in one structure: every received path
 * lives once, in its destination's candidate list. A peer's Adj-RIB-In is
 * the set of paths whose source is that peer; there is deliberately no
 * second per-peer index: finding a peer's path means walking one
 * destination's few candidates, and peer-wide operations (down, stale
 * marking) walk the table once.
 *
 * Memory is the design constraint (issue #6: at most 250 bytes per route at a
 * million routes, measured as process RSS; issue #14: within 1.5x of BIRD
 * 2). As in BIRD's `net`/`rte`, a destination is its key and the head of a
 * singly linked list of candidate paths, kept with the best path first. The
 * multipath set and the deciding step are derived from the list when asked
 * for, which is rare next to the number of routes held.
 *
 * Most destinations of a reflector or a Calico node have one fresh path
 * without a path id. Such a destination is stored without any path object:
 * the table slot holds the path's interned attribute set and, in a 2-byte
 * tag beside it, its source's number (a path object is 64 bytes, most of the
 * Loc-RIB at a million routes). Readers get a path object made on the spot;
 * it lives for one operation, and every change is stored back through
 * `store`, which picks the compact form whenever it applies.
 *
 * Best path and multipath are updated per destination when its candidates
 * change; callers hear only about real changes.
 */
import type { AttrSet, AttrTable } from './intern.js';
import { MULTIPATH_STEPS, comparePaths, type DecisionStep, oneNeighborAs, type Path, type PathSource, selectBest } from './best-path.js';
import type { PrefixKey } from './prefix-key.js';
import { MAX_TAG, PrefixTable, taggable } from './prefix-table.js';

/**
 * A path in the Loc-RIB: linked to its destination's next candidate. A path
 * read from a compact destination is a fresh copy, so identity means "the
 * same path" only within one Loc-RIB operation.
 */
export interface RibPath extends Path {
  next: RibPath | null;
}

/**
 * A prefix and its candidates. The table stores only the head of each list
 * (a destination object per route would cost 40 bytes more per route);
 * `get`, `destinations` and change reports hand out these small views.
 */
export interface Destination {
  readonly key: PrefixKey;
  /** The best path, head of the candidate list; null once the last path is gone. */
  best: RibPath | null;
}

/** Every candidate path of a destination, best first. */
export function pathsOf(d: Destination): RibPath[] {
  const out: RibPath[] = [];
  for (let p = d.best; p !== null; p = p.next) out.push(p);
  return out;
}

/** Can `p` share forwarding with `best` (ECMP, Calico's `merge paths on`)? Local routes never do. */
function equalCost(best: Path, p: Path): boolean {
  return best.source !== null && p.source !== null && MULTIPATH_STEPS.has(comparePaths(best, p).step);
}

/** The best path and the paths equal-cost with it, best first (empty for an empty destination). */
export function multipathOf(d: Destination): RibPath[] {
  const best = d.best;
  if (best === null) return [];
  // Across neighbor ASes a path can lose on MED to a third one while tying
  // with the best: only the full decision knows.
  if (best.next !== null && !oneNeighborAs(pathsOf(d))) return selectBest(pathsOf(d)).multipath as RibPath[];
  const out = [best];
  for (let p = best.next; p !== null; p = p.next) if (equalCost(best, p)) out.push(p);
  return out;
}

/** Why the best path beat the runner-up ('equal' with one path). */
export function decidingStep(d: Destination): DecisionStep {
  return selectBest(pathsOf(d)).step;
}

/** A destination whose best path or multipath set changed. */
export interface BestChange {
  dest: Destination;
  previousBest: RibPath | null;
}

function sameMultipath(a: readonly RibPath[], b: readonly RibPath[]): boolean {
  return a.length === b.length && a.every((p, i) => p === b[i]);
}

export class LocRib {
  /**
   * Head (best path) of each destination's candidate list; for a compact
   * destination (tag > 0), the attribute set of its only path, whose source
   * is `sourceByTag[tag]`.
   */
  private readonly heads = new PrefixTable<RibPath | AttrSet>({ tagBits: 16 });
  /** Source numbers for compact destinations (1..MAX_TAG; 0 means "a path object"). */
  private readonly tagBySource = new Map<PathSource | null, number>();
  private readonly sourceByTag: (PathSource | null)[] = [null];
  private readonly freeTags: number[] = [];
  private readonly counts = new Map<PathSource | null, number>();
  /**
   * Stale paths per source: sweeping a source with none (every End-of-RIB
   * of a peer that did not restart) then costs nothing instead of a walk of
   * the whole table.
   */
  private readonly staleCounts = new Map<PathSource | null, number>();

  constructor(private readonly table: AttrTable) {}

  get size(): number {
    return this.heads.size;
  }

  /** Destinations per family, without a walk (for metrics). */
  get sizeByFamily(): { ipv4: number; ipv6: number } {
    return this.heads.sizeByFamily;
  }

  /** The head path of a table entry (made on the spot for a compact one). */
  private headOf(value: RibPath | AttrSet, tag: number): RibPath {
    if (tag === 0) return value as RibPath;
    return { source: this.sourceByTag[tag]!, attrs: value as AttrSet, pathId: 0, stale: 0, next: null };
  }

  private readonly toHead = (value: RibPath | AttrSet, tag: number): RibPath => this.headOf(value, tag);

  get(key: PrefixKey): Destination | undefined {
    const best = this.heads.lookup(key, this.toHead);
    return best === undefined ? undefined : { key, best };
  }

  *destinations(): IterableIterator<Destination> {
    for (const [key, value, tag] of this.heads.tagged()) yield { key, best: this.headOf(value, tag) };
  }

  /** Walks every destination (no iterator objects; `fn` may store the destination back). */
  private forEachDestination(fn: (dest: Destination) => void): void {
    this.heads.forEach((value, key, tag) => fn({ key, best: this.headOf(value, tag) }));
  }

  /**
   * Writes a destination's (new) head back, or drops it when empty. One
   * fresh path without a path id is stored compact when its source has (or
   * can get) a number.
   */
  private store(dest: Destination): void {
    const best = dest.best;
    if (best === null) {
      this.heads.delete(dest.key);
      return;
    }
    const tag = best.next === null && best.stale === 0 && best.pathId === 0 && taggable(dest.key) ? this.tagOf(best.source) : 0;
    if (tag === 0) this.heads.set(dest.key, best);
    else this.heads.set(dest.key, best.attrs, tag);
  }

  /** The number of a source holding paths, assigned on first use; 0 when all are taken. */
  private tagOf(source: PathSource | null): number {
    const known = this.tagBySource.get(source);
    if (known !== undefined) return known;
    const tag = this.freeTags.pop() ?? (this.sourceByTag.length <= MAX_TAG ? this.sourceByTag.length : 0);
    if (tag === 0) return 0;
    this.sourceByTag[tag] = source;
    this.tagBySource.set(source, tag);
    return tag;
  }

  /** Paths held from a source (null = local). */
  countFrom(source: PathSource | null): number {
    return this.counts.get(source) ?? 0;
  }

  /** Stale paths held from a source. */
  staleFrom(source: PathSource | null): number {
    return this.staleCounts.get(source) ?? 0;
  }

  private count(source: PathSource | null, delta: number): void {
    LocRib.adjust(this.counts, source, delta);
    if (this.counts.has(source)) return;
    // No path of the source is left, so no compact destination names it.
    const tag = this.tagBySource.get(source);
    if (tag === undefined) return;
    this.tagBySource.delete(source);
    this.sourceByTag[tag] = null;
    this.freeTags.push(tag);
  }

  /** A path of `source` stops being held or stops being stale. */
  private unstale(p: RibPath): void {
    if (p.stale !== 0) LocRib.adjust(this.staleCounts, p.source, -1);
  }

  private static adjust(counts: Map<PathSource | null, number>, source: PathSource | null, delta: number): void {
    const n = (counts.get(source) ?? 0) + delta;
    if (n === 0) counts.delete(source);
    else counts.set(source, n);
  }

  /** The path from (source, pathId) and the one before it in the list. */
  private static find(dest: Destination, source: PathSource | null, pathId: number): { prev: RibPath | null; path: RibPath } | null {
    let prev: RibPath | null = null;
    for (let p = dest.best; p !== null; prev = p, p = p.next) if (p.source === source && p.pathId === pathId) return { prev, path: p };
    return null;
  }

  private static unlink(dest: Destination, prev: RibPath | null, path: RibPath): void {
    if (prev === null) dest.best = path.next;
    else prev.next = path.next;
  }

  /**
   * Installs or replaces the path from `source` for (key, pathId); `attrs`
   * is an interned set whose reference now belongs to the RIB. Returns the
   * destination if its best path or multipath set changed.
   */
  announce(source: PathSource | null, key: PrefixKey, pathId: number, attrs: AttrSet): BestChange | null {
    const dest = this.get(key);
    if (dest === undefined) {
      // The common case: a prefix's first path.
      const path: RibPath = { source, attrs, pathId, stale: 0, next: null };
      this.count(source, 1);
      const created = { key, best: path };
      this.store(created);
      return { dest: created, previousBest: null };
    }
    const found = LocRib.find(dest, source, pathId);
    if (found !== null) {
      const old = found.path;
      if (old.attrs === attrs) {
        // The same route again (a refresh): only its staleness changes.
        this.table.release(attrs);
        const wasLlgr = old.stale === 2;
        this.unstale(old);
        if (!wasLlgr) {
          if (old.stale !== 0) {
            old.stale = 0;
            this.store(dest);
          }
          return null;
        }
        const before = multipathOf(dest);
        old.stale = 0;
        return this.reselect(dest, before);
      }
      // A new object, so that "best changed" is an identity test.
      const before = multipathOf(dest);
      this.table.release(old.attrs);
      this.unstale(old);
      const path: RibPath = { source, attrs, pathId, stale: 0, next: old.next };
      if (found.prev === null) dest.best = path;
      else found.prev.next = path;
      return this.reselect(dest, before);
    }
    this.count(source, 1);
    return this.added(dest, { source, attrs, pathId, stale: 0, next: null });
  }

  /** Removes the path from `source` for (key, pathId), if any. */
  withdraw(source: PathSource | null, key: PrefixKey, pathId: number): BestChange | null {
    const dest = this.get(key);
    if (dest === undefined) return null;
    const found = LocRib.find(dest, source, pathId);
    if (found === null) return null;
    const before = dest.best!.next === null ? null : multipathOf(dest);
    LocRib.unlink(dest, found.prev, found.path);
    this.table.release(found.path.attrs);
    this.count(source, -1);
    this.unstale(found.path);
    if (before === null) {
      // It was the only path.
      this.heads.delete(key);
      return { dest, previousBest: found.path };
    }
    return this.reselect(dest, before);
  }

  /** Removes every path of a source that passes `filter` (peer down without graceful restart). */
  removeSource(source: PathSource | null, filter: (key: PrefixKey, p: Path) => boolean = () => true): BestChange[] {
    return this.removeSources(new Set([source]), filter);
  }

  /**
   * Removes the paths of several sources in one walk of the table (when many
   * peers go down together, one pass instead of one per peer).
   */
  removeSources(sources: ReadonlySet<PathSource | null>, filter: (key: PrefixKey, p: Path) => boolean = () => true): BestChange[] {
    const changes: BestChange[] = [];
    if (![...sources].some((s) => this.countFrom(s) > 0)) return changes;
    this.forEachDestination((dest) => {
      let before: RibPath[] | null = null;
      let prev: RibPath | null = null;
      for (let p = dest.best; p !== null; p = p.next) {
        if (!sources.has(p.source) || !filter(dest.key, p)) {
          prev = p;
          continue;
        }
        before ??= multipathOf(dest);
        LocRib.unlink(dest, prev, p);
        this.table.release(p.attrs);
        this.count(p.source, -1);
        this.unstale(p);
      }
      if (before !== null) {
        const c = this.reselect(dest, before);
        if (c !== null) changes.push(c);
      }
    });
    return changes;
  }

  /**
   * Marks a source's paths stale (graceful restart, RFC 4724 section 4.2),
   * or moves its stale paths to the long-lived stale phase (`level` 2, RFC
   * 9494). Levels only rise, and only one step: level 1 marks fresh paths
   * (a long-lived stale path stays least preferred when the peer drops
   * again), level 2 marks paths that are stale (routes the peer re-sent
   * since it came back are fresh and stay so). Returns best-path changes
   * (long-lived stale paths lose preference).
   */
  markStale(source: PathSource, level: 1 | 2, filter: (key: PrefixKey) => boolean = () => true): BestChange[] {
    const changes: BestChange[] = [];
    if ((level === 1 ? this.countFrom(source) - this.staleFrom(source) : this.staleFrom(source)) === 0) return changes;
    this.forEachDestination((dest) => {
      if (!filter(dest.key)) return;
      let before: RibPath[] | null = null;
      let marked = false;
      for (let p = dest.best; p !== null; p = p.next) {
        if (p.source !== source || p.stale !== level - 1) continue;
        if (level === 2) before ??= multipathOf(dest);
        else LocRib.adjust(this.staleCounts, source, 1);
        p.stale = level;
        marked = true;
      }
      if (before !== null) {
        const c = this.reselect(dest, before);
        if (c !== null) changes.push(c);
      } else if (marked) this.store(dest); // a stale path is never compact
    });
    return changes;
  }

  /** Removes a source's paths that are still stale (End-of-RIB or restart timer). */
  sweepStale(source: PathSource, filter: (key: PrefixKey) => boolean = () => true): BestChange[] {
    if (this.staleFrom(source) === 0) return [];
    return this.removeSource(source, (key, p) => p.stale !== 0 && filter(key));
  }

  /**
   * A path joins a destination that has some: when all its paths come from
   * one neighbor AS, only it needs comparing with the current best. It goes
   * first if it wins, second otherwise (the order of the non-best paths
   * carries no meaning).
   */
  private added(dest: Destination, path: RibPath): BestChange | null {
    const best = dest.best!;
    if (!oneNeighborAs([path, ...pathsOf(dest)])) {
      // MED across neighbor ASes is not a total order: decide over all paths.
      const before = multipathOf(dest);
      path.next = best.next;
      best.next = path;
      return this.reselect(dest, before);
    }
    if (comparePaths(path, best).order < 0) {
      path.next = best;
      dest.best = path;
      this.store(dest);
      return { dest, previousBest: best };
    }
    path.next = best.next;
    best.next = path;
    this.store(dest); // a compact head becomes a path object here
    return equalCost(best, path) ? { dest, previousBest: best } : null;
  }

  /**
   * Re-runs the decision over a destination's candidates after a change,
   * puts the winner first, and reports whether the best path or the
   * multipath set (`before`, taken before the change) moved. An emptied
   * destination leaves the table.
   */
  private reselect(dest: Destination, before: readonly RibPath[]): BestChange | null {
    const previousBest = before[0] ?? null;
    if (dest.best === null) {
      this.store(dest);
      return { dest, previousBest };
    }
    if (dest.best.next !== null) {
      const paths = pathsOf(dest);
      const winner = selectBest(paths).best as RibPath;
      if (winner !== dest.best) {
        // Move the winner to the head; the others keep their order.
        const prev = paths[paths.indexOf(winner) - 1]!;
        prev.next = winner.next;
        winner.next = dest.best;
        dest.best = winner;
      }
    }
    this.store(dest);
    if (previousBest === dest.best && sameMultipath(before, multipathOf(dest))) return null;
    return { dest, previousBest };
  }
}
