/**
 * Adj-RIB-In per peer and the Loc-RIB, in one structure: every received path
 * lives once, in its destination's candidate list. A peer's Adj-RIB-In is
 * the set of paths whose source is that peer; there is deliberately no
 * second per-peer index: finding a peer's path means scanning one
 * destination's few candidates, and peer-wide operations (down, stale
 * marking) walk the table once. That keeps memory near one small object per
 * route (issue #6's budget is 250 bytes per route at a million routes).
 *
 * Best path and multipath are updated per destination when its candidates
 * change; callers hear only about real changes.
 */
import type { AttrSet, AttrTable } from './intern.js';
import { MULTIPATH_STEPS, STEP_RANK, comparePaths, type DecisionStep, type Path, type PathSource, selectBest } from './best-path.js';
import type { PrefixKey } from './prefix-key.js';

export interface Destination {
  readonly key: PrefixKey;
  paths: Path[];
  best: Path | null;
  /** Equal-cost paths, best first; empty when the best path is the only one (see `multipathOf`). */
  multipath: Path[];
  step: DecisionStep;
}

/** Shared by every destination whose multipath set is just its best path (saves an array per route). */
const ONLY_BEST: Path[] = [];

/** The best path and the paths equal-cost with it. */
export function multipathOf(d: Destination): readonly Path[] {
  if (d.best === null) return ONLY_BEST;
  return d.multipath.length > 0 ? d.multipath : [d.best];
}

/** A destination whose best path or multipath set changed. */
export interface BestChange {
  dest: Destination;
  previousBest: Path | null;
}

export class LocRib {
  private readonly dests = new Map<PrefixKey, Destination>();
  private readonly counts = new Map<PathSource | null, number>();

  constructor(private readonly table: AttrTable) {}

  get size(): number {
    return this.dests.size;
  }

  get(key: PrefixKey): Destination | undefined {
    return this.dests.get(key);
  }

  destinations(): IterableIterator<Destination> {
    return this.dests.values();
  }

  /** Paths held from a source (null = local). */
  countFrom(source: PathSource | null): number {
    return this.counts.get(source) ?? 0;
  }

  private count(source: PathSource | null, delta: number): void {
    const n = (this.counts.get(source) ?? 0) + delta;
    if (n === 0) this.counts.delete(source);
    else this.counts.set(source, n);
  }

  private static find(dest: Destination | undefined, source: PathSource | null, pathId: number): number {
    if (dest === undefined) return -1;
    const paths = dest.paths;
    for (let i = 0; i < paths.length; i++) if (paths[i]!.source === source && paths[i]!.pathId === pathId) return i;
    return -1;
  }

  /**
   * Installs or replaces the path from `source` for (key, pathId); `attrs`
   * is an interned set whose reference now belongs to the RIB. Returns the
   * destination if its best path or multipath set changed.
   */
  announce(source: PathSource | null, key: PrefixKey, pathId: number, attrs: AttrSet): BestChange | null {
    let dest = this.dests.get(key);
    const at = LocRib.find(dest, source, pathId);
    if (at >= 0) {
      const old = dest!.paths[at]!;
      if (old.attrs === attrs) {
        // The same route again (a refresh): only its staleness changes.
        this.table.release(attrs);
        const wasLlgr = old.stale === 2;
        old.stale = 0;
        return wasLlgr ? this.reselect(dest!) : null;
      }
      this.table.release(old.attrs);
      const path: Path = { source, attrs, pathId, stale: 0 };
      dest!.paths[at] = path;
      return this.reselect(dest!);
    }
    const path: Path = { source, attrs, pathId, stale: 0 };
    this.count(source, 1);
    if (dest === undefined) {
      // The common case: a prefix's first path. Exactly-sized arrays.
      dest = { key, paths: [path], best: path, multipath: ONLY_BEST, step: 'equal' };
      this.dests.set(key, dest);
      return { dest, previousBest: null };
    }
    dest.paths.push(path);
    return this.added(dest, path);
  }

  /** Removes the path from `source` for (key, pathId), if any. */
  withdraw(source: PathSource | null, key: PrefixKey, pathId: number): BestChange | null {
    const dest = this.dests.get(key);
    const at = LocRib.find(dest, source, pathId);
    if (at < 0) return null;
    const old = dest!.paths[at]!;
    dest!.paths.splice(at, 1);
    this.table.release(old.attrs);
    this.count(source, -1);
    return this.reselect(dest!);
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
    for (const dest of this.dests.values()) {
      let changed = false;
      for (let i = dest.paths.length - 1; i >= 0; i--) {
        const p = dest.paths[i]!;
        if (!sources.has(p.source) || !filter(dest.key, p)) continue;
        dest.paths.splice(i, 1);
        this.table.release(p.attrs);
        this.count(p.source, -1);
        changed = true;
      }
      if (changed) {
        const c = this.reselect(dest);
        if (c !== null) changes.push(c);
      }
    }
    return changes;
  }

  /**
   * Marks a source's paths stale (graceful restart, RFC 4724 section 4.2;
   * `level` 2 for long-lived stale, RFC 9494). Returns best-path changes
   * (LLGR-stale paths lose preference).
   */
  markStale(source: PathSource, level: 1 | 2, filter: (key: PrefixKey) => boolean = () => true): BestChange[] {
    const changes: BestChange[] = [];
    if (this.countFrom(source) === 0) return changes;
    for (const dest of this.dests.values()) {
      if (!filter(dest.key)) continue;
      let touched = false;
      for (const p of dest.paths) {
        if (p.source !== source) continue;
        p.stale = level;
        touched = true;
      }
      if (touched && level === 2) {
        const c = this.reselect(dest);
        if (c !== null) changes.push(c);
      }
    }
    return changes;
  }

  /** Removes a source's paths that are still stale (End-of-RIB or restart timer). */
  sweepStale(source: PathSource, filter: (key: PrefixKey) => boolean = () => true): BestChange[] {
    return this.removeSource(source, (key, p) => p.stale !== 0 && filter(key));
  }

  /**
   * A path was added: only it needs comparing with the current best, unless
   * it wins (then the multipath set is rebuilt around it).
   */
  private added(dest: Destination, path: Path): BestChange | null {
    const best = dest.best;
    if (best === null) {
      dest.best = path;
      dest.multipath = ONLY_BEST;
      dest.step = 'equal';
      return { dest, previousBest: null };
    }
    const c = comparePaths(path, best);
    if (c.order < 0) return this.reselect(dest);
    if (STEP_RANK[c.step]! > STEP_RANK[dest.step]! || dest.paths.length === 2) dest.step = c.step;
    if (MULTIPATH_STEPS.has(c.step) && path.source !== null && best.source !== null) {
      dest.multipath = dest.multipath.length > 0 ? [...dest.multipath, path] : [best, path];
      return { dest, previousBest: best };
    }
    return null;
  }

  private reselect(dest: Destination): BestChange | null {
    const previousBest = dest.best;
    const previousMulti = multipathOf(dest);
    const sel = selectBest(dest.paths);
    dest.best = sel.best;
    dest.multipath = sel.multipath.length > 1 ? sel.multipath : ONLY_BEST;
    dest.step = sel.step;
    if (dest.paths.length === 0) this.dests.delete(dest.key);
    const sameMulti = previousMulti.length === sel.multipath.length && previousMulti.every((p, i) => p === sel.multipath[i]);
    if (previousBest === sel.best && sameMulti) return null;
    return { dest, previousBest };
  }
}
