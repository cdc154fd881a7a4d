/**
 * The part of the Adj-RIB-In that the Loc-RIB does not hold: routes the
 * import policy (`--import-only-pools`, `--import-reject-cidrs`) turned away.
 *
 * RFC 4271 section 9.1 runs the decision process again "when the policy
 * changes": routes already learned must be judged by the new policy. The
 * Loc-RIB has every accepted route with its attributes; with the rejected
 * ones kept here, a policy change is applied locally, to every peer alike,
 * without asking peers to send their tables again (ROUTE-REFRESH, which not
 * every peer supports). Only routes the policy rejected are kept: a route
 * dropped by the loop checks stays unusable whatever the policy says.
 */
import type { NodeBgpConfig } from '../../model/types.js';
import type { AttrSet, AttrTable } from '../rib/intern.js';
import type { PathSource } from '../rib/best-path.js';
import { type BestChange, type LocRib, pathsOf } from '../rib/loc-rib.js';
import type { PrefixKey } from '../rib/prefix-key.js';

/** One kept route. */
export interface KeptRoute {
  source: PathSource;
  key: PrefixKey;
  pathId: number;
  attrs: AttrSet;
}

/** Rejected routes by source, prefix and ADD-PATH identifier, each holding a reference to its interned attributes. */
export class RejectedRoutes {
  private readonly bySource = new Map<PathSource, Map<PrefixKey, Map<number, AttrSet>>>();

  constructor(private readonly table: AttrTable) {}

  /** Keeps a rejected route; the store takes over the caller's reference to `attrs`. */
  keep(source: PathSource, key: PrefixKey, pathId: number, attrs: AttrSet): void {
    let prefixes = this.bySource.get(source);
    if (prefixes === undefined) this.bySource.set(source, (prefixes = new Map()));
    let ids = prefixes.get(key);
    if (ids === undefined) prefixes.set(key, (ids = new Map()));
    const old = ids.get(pathId);
    if (old !== undefined) this.table.release(old);
    ids.set(pathId, attrs);
  }

  /** Drops a route (withdrawn, or accepted now), if kept. */
  forget(source: PathSource, key: PrefixKey, pathId: number): void {
    const prefixes = this.bySource.get(source);
    const ids = prefixes?.get(key);
    const attrs = ids?.get(pathId);
    if (attrs === undefined) return;
    this.table.release(attrs);
    ids!.delete(pathId);
    if (ids!.size === 0) prefixes!.delete(key);
    if (prefixes!.size === 0) this.bySource.delete(source);
  }

  /** Drops everything from a source (its session went down: what it sends next replaces it all). */
  forgetSource(source: PathSource): void {
    const prefixes = this.bySource.get(source);
    if (prefixes === undefined) return;
    for (const ids of prefixes.values()) for (const attrs of ids.values()) this.table.release(attrs);
    this.bySource.delete(source);
  }

  /** Routes kept from a source. */
  countFrom(source: PathSource): number {
    let n = 0;
    for (const ids of this.bySource.get(source)?.values() ?? []) n += ids.size;
    return n;
  }

  /** Removes and returns every kept route whose prefix `accepts` lets in; the caller gets each one's reference. */
  takeAccepted(accepts: (key: PrefixKey) => boolean): KeptRoute[] {
    const out: KeptRoute[] = [];
    for (const [source, prefixes] of [...this.bySource]) {
      for (const [key, ids] of [...prefixes]) {
        if (!accepts(key)) continue;
        for (const [pathId, attrs] of ids) out.push({ source, key, pathId, attrs });
        prefixes.delete(key);
      }
      if (prefixes.size === 0) this.bySource.delete(source);
    }
    return out;
  }
}

/** What the import policy depends on: when this text changes, learned routes must be judged again. */
export function importPolicyInputs(model: NodeBgpConfig, options: { importOnlyPools?: boolean; importRejectCidrs?: boolean }): string {
  const fams = [model.ipv4, model.ipv6];
  return JSON.stringify({
    pools: options.importOnlyPools === true ? fams.flatMap((f) => f.pools.map((p) => p.cidr)).sort() : null,
    reject: options.importRejectCidrs === true ? fams.flatMap((f) => f.rejectCidrs).sort() : null,
  });
}

/**
 * Judges every learned route again under the current policy (`rejects`
 * says why a prefix is turned away, or undefined): accepted routes it now
 * rejects leave the Loc-RIB for the store, kept routes it now accepts enter
 * the Loc-RIB. Stale routes of a restarting peer that it now rejects are
 * dropped, not kept: the peer may never send them again.
 */
export function reapplyImportPolicy(rib: LocRib, kept: RejectedRoutes, table: AttrTable, rejects: (key: PrefixKey) => string | undefined): BestChange[] {
  const changes: BestChange[] = [];
  const leaving: { source: PathSource; key: PrefixKey; pathId: number; attrs: AttrSet; stale: boolean }[] = [];
  for (const d of rib.destinations()) {
    if (rejects(d.key) === undefined) continue;
    for (const p of pathsOf(d)) if (p.source !== null) leaving.push({ source: p.source, key: d.key, pathId: p.pathId, attrs: p.attrs, stale: p.stale !== 0 });
  }
  for (const r of leaving) {
    if (!r.stale) kept.keep(r.source, r.key, r.pathId, table.retain(r.attrs));
    const c = rib.withdraw(r.source, r.key, r.pathId);
    if (c !== null) changes.push(c);
  }
  for (const r of kept.takeAccepted((key) => rejects(key) === undefined)) {
    const c = rib.announce(r.source, r.key, r.pathId, r.attrs);
    if (c !== null) changes.push(c);
  }
  return changes;
}
