/**
 * Update groups: peers of one export class get identical UPDATEs, so the
 * group keeps one Adj-RIB-Out and encodes each change once for all of its
 * members (holo's update queue, BIRD's buckets). Changes are queued per
 * prefix as the wanted state, diffed against the Adj-RIB-Out at flush,
 * grouped by attribute set, and packed into as few UPDATEs as fit.
 *
 * Memory matters here (one entry per advertised route per group): without
 * ADD-PATH an entry is just prefix -> interned attribute set; with ADD-PATH
 * it is prefix -> (path id -> attribute set).
 */
import { Afi, type CodecContext, endOfRib, encodeMessage, packUpdates, packWithdrawals, afiSafiKey } from '../packet/index.js';
import type { AttrSet, AttrTable } from '../rib/intern.js';
import { type PrefixKey, keysToList } from '../rib/prefix-key.js';
import { PrefixTable } from '../rib/prefix-table.js';
import type { ExportClass } from './export.js';

/** What a group advertises for one prefix: nothing, one route, or (ADD-PATH) routes by path id. */
export type Advertised = AttrSet | Map<number, AttrSet> | null;

export interface GroupMember {
  /** Writes encoded UPDATEs to the member's session; false when its socket is full. */
  writeUpdates(messages: readonly Buffer[]): boolean;
}

function* entries(a: Advertised): Generator<[number, AttrSet]> {
  if (a === null) return;
  if (a instanceof Map) yield* a;
  else yield [0, a];
}

export class UpdateGroup {
  readonly members = new Set<GroupMember>();
  /** What every member has been sent. */
  readonly out = new PrefixTable<AttrSet | Map<number, AttrSet>>();
  /** Wanted state per changed prefix, not yet flushed (holds attribute references). */
  private pending = new Map<PrefixKey, Advertised>();
  /**
   * Exported attribute sets by (source attribute set, source, communities):
   * every prefix of one UPDATE from one peer exports the same attributes, so
   * the export rules and the interning run once per attribute set, not per
   * prefix. Holds one reference per entry.
   */
  readonly exportCache = new Map<string, AttrSet>();

  constructor(
    readonly signature: string,
    readonly cls: ExportClass,
    readonly ctx: CodecContext,
    private readonly table: AttrTable,
  ) {}

  get afi(): 1 | 2 {
    return this.cls.family === 4 ? Afi.IPV4 : Afi.IPV6;
  }

  get addPath(): boolean {
    return this.ctx.addPath.has(afiSafiKey(this.afi, 1));
  }

  /** Number of routes advertised. */
  get advertised(): number {
    let n = 0;
    for (const v of this.out.values()) n += v instanceof Map ? v.size : 1;
    return n;
  }

  get hasPending(): boolean {
    return this.pending.size > 0;
  }

  /** Sets what the group advertises for `key`; the attribute references move to the group. */
  setPrefix(key: PrefixKey, wanted: Advertised): void {
    const prev = this.pending.get(key);
    if (prev !== undefined) for (const [, a] of entries(prev)) this.table.release(a);
    this.pending.set(key, wanted);
  }

  /** Drops cached exports (the policy or the model changed). */
  clearExportCache(): void {
    for (const a of this.exportCache.values()) this.table.release(a);
    this.exportCache.clear();
  }

  /** Forgets everything (the group is empty); releases attribute references. */
  clear(): void {
    for (const v of this.out.values()) for (const [, a] of entries(v)) this.table.release(a);
    for (const v of this.pending.values()) for (const [, a] of entries(v)) this.table.release(a);
    this.out.clear();
    this.pending.clear();
    this.clearExportCache();
  }

  /** Encodes the queued changes, applies them to the Adj-RIB-Out, and returns the UPDATEs. */
  flush(): Buffer[] {
    const withdrawKeys: PrefixKey[] = [];
    const withdrawIds: number[] = [];
    const byAttrs = new Map<AttrSet, { keys: PrefixKey[]; ids: number[] }>();
    const announce = (key: PrefixKey, id: number, a: AttrSet): void => {
      let b = byAttrs.get(a);
      if (b === undefined) byAttrs.set(a, (b = { keys: [], ids: [] }));
      b.keys.push(key);
      b.ids.push(id);
    };
    for (const [key, wanted] of this.pending) {
      const cur = this.out.get(key) ?? null;
      // Withdraw what is advertised and no longer wanted.
      for (const [id, a] of entries(cur)) {
        const still = wanted === null ? undefined : wanted instanceof Map ? wanted.get(id) : id === 0 ? wanted : undefined;
        if (still === undefined) {
          withdrawKeys.push(key);
          withdrawIds.push(id);
        }
        this.table.release(a);
      }
      // Announce what is new or changed.
      for (const [id, a] of entries(wanted)) {
        const was = cur === null ? undefined : cur instanceof Map ? cur.get(id) : id === 0 ? cur : undefined;
        if (was !== a) announce(key, id, a);
      }
      if (wanted === null || (wanted instanceof Map && wanted.size === 0)) this.out.delete(key);
      else this.out.set(key, wanted);
    }
    this.pending = new Map();
    const msgs: Buffer[] = [];
    if (withdrawKeys.length > 0) msgs.push(...packWithdrawals(keysToList(this.afi, withdrawKeys, this.addPath ? withdrawIds : undefined), this.ctx));
    for (const [attrs, b] of byAttrs) msgs.push(...this.encode(attrs, b.keys, b.ids));
    return msgs;
  }

  /** The whole Adj-RIB-Out as UPDATEs plus End-of-RIB: what a member needs after joining or a refresh. */
  fullTable(withEndOfRib = true): Buffer[] {
    const byAttrs = new Map<AttrSet, { keys: PrefixKey[]; ids: number[] }>();
    for (const [key, v] of this.out) {
      for (const [id, a] of entries(v)) {
        let b = byAttrs.get(a);
        if (b === undefined) byAttrs.set(a, (b = { keys: [], ids: [] }));
        b.keys.push(key);
        b.ids.push(id);
      }
    }
    const msgs: Buffer[] = [];
    for (const [attrs, b] of byAttrs) msgs.push(...this.encode(attrs, b.keys, b.ids));
    if (withEndOfRib) msgs.push(encodeMessage(endOfRib(this.afi), this.ctx));
    return msgs;
  }

  private encode(attrs: AttrSet, keys: PrefixKey[], ids: number[]): Buffer[] {
    const list = keysToList(this.afi, keys, this.addPath ? ids : undefined);
    if (this.afi === Afi.IPV4) return packUpdates(list, attrs.attrs, this.ctx);
    return packUpdates(list, attrs.attrs, this.ctx, attrs.nextHops);
  }
}
