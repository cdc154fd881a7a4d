/**
 * Update groups: peers of one export class get identical UPDATEs, so the
 * group keeps one Adj-RIB-Out and encodes each change once for all of its
 * members (holo's update queue, BIRD's buckets). Changes are collected as
 * (prefix, path id) -> attribute set, grouped by attribute set, and packed
 * into as few UPDATEs as fit.
 */
import { Afi, type CodecContext, endOfRib, encodeMessage, packUpdates, packWithdrawals, afiSafiKey } from '../packet/index.js';
import type { AttrSet, AttrTable } from '../rib/intern.js';
import { type PrefixKey, keysToList } from '../rib/prefix-key.js';
import type { ExportClass } from './export.js';

export interface OutEntry {
  key: PrefixKey;
  pathId: number;
  attrs: AttrSet;
}

/** Adj-RIB-Out key: one entry per prefix and (with ADD-PATH) path id. */
const outKey = (key: PrefixKey, pathId: number): string => `${key}#${pathId}`;

export interface GroupMember {
  /** Writes encoded UPDATEs to the member's session; false when its socket is full. */
  writeUpdates(messages: readonly Buffer[]): boolean;
}

export class UpdateGroup {
  readonly members = new Set<GroupMember>();
  /** What every member has been sent: prefix -> path id -> entry. */
  readonly out = new Map<PrefixKey, Map<number, OutEntry>>();
  private pendingAnnounce = new Map<string, OutEntry>();
  private pendingWithdraw = new Map<string, { key: PrefixKey; pathId: number }>();

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

  private getOut(key: PrefixKey, id: number): OutEntry | undefined {
    return this.out.get(key)?.get(id);
  }

  private setOut(e: OutEntry): void {
    let m = this.out.get(e.key);
    if (m === undefined) this.out.set(e.key, (m = new Map()));
    m.set(e.pathId, e);
  }

  private deleteOut(key: PrefixKey, id: number): void {
    const m = this.out.get(key);
    if (m === undefined) return;
    m.delete(id);
    if (m.size === 0) this.out.delete(key);
  }

  /** Number of routes advertised. */
  get advertised(): number {
    let n = 0;
    for (const m of this.out.values()) n += m.size;
    return n;
  }

  /**
   * Sets what the group advertises for `key`: `wanted` (path id -> interned
   * attributes; the references move to the group). Differences are queued.
   */
  setPrefix(key: PrefixKey, wanted: Map<number, AttrSet>): void {
    const current = this.out.get(key);
    if (current !== undefined) {
      for (const id of current.keys()) {
        if (wanted.has(id)) continue;
        const k = outKey(key, id);
        this.pendingWithdraw.set(k, { key, pathId: id });
        const prev = this.pendingAnnounce.get(k);
        if (prev !== undefined) this.table.release(prev.attrs);
        this.pendingAnnounce.delete(k);
      }
    }
    for (const [id, attrs] of wanted) {
      const k = outKey(key, id);
      const cur = this.pendingAnnounce.get(k) ?? this.getOut(key, id);
      if (cur !== undefined && cur.attrs === attrs) {
        this.table.release(attrs);
        continue;
      }
      this.pendingWithdraw.delete(k);
      const prev = this.pendingAnnounce.get(k);
      if (prev !== undefined) this.table.release(prev.attrs);
      this.pendingAnnounce.set(k, { key, pathId: id, attrs });
    }
  }

  /** Forgets everything (the group is empty); releases attribute references. */
  clear(): void {
    for (const m of this.out.values()) for (const e of m.values()) this.table.release(e.attrs);
    for (const e of this.pendingAnnounce.values()) this.table.release(e.attrs);
    this.out.clear();
    this.pendingAnnounce.clear();
    this.pendingWithdraw.clear();
  }

  /** Encodes the queued changes, applies them to the Adj-RIB-Out, and returns the UPDATEs. */
  flush(): Buffer[] {
    const msgs: Buffer[] = [];
    const withdrawKeys: PrefixKey[] = [];
    const withdrawIds: number[] = [];
    for (const w of this.pendingWithdraw.values()) {
      const old = this.getOut(w.key, w.pathId);
      if (old === undefined) continue;
      this.deleteOut(w.key, w.pathId);
      this.table.release(old.attrs);
      withdrawKeys.push(w.key);
      withdrawIds.push(w.pathId);
    }
    if (withdrawKeys.length > 0) msgs.push(...packWithdrawals(keysToList(this.afi, withdrawKeys, this.addPath ? withdrawIds : undefined), this.ctx));
    const byAttrs = new Map<AttrSet, OutEntry[]>();
    for (const e of this.pendingAnnounce.values()) {
      const old = this.getOut(e.key, e.pathId);
      if (old !== undefined) this.table.release(old.attrs);
      this.setOut(e);
      let list = byAttrs.get(e.attrs);
      if (list === undefined) byAttrs.set(e.attrs, (list = []));
      list.push(e);
    }
    for (const [attrs, entries] of byAttrs) msgs.push(...this.encode(attrs, entries));
    this.pendingAnnounce = new Map();
    this.pendingWithdraw = new Map();
    return msgs;
  }

  /** The whole Adj-RIB-Out as UPDATEs plus End-of-RIB: what a member needs after joining or a refresh. */
  fullTable(withEndOfRib = true): Buffer[] {
    const byAttrs = new Map<AttrSet, OutEntry[]>();
    for (const m of this.out.values()) {
      for (const e of m.values()) {
        let list = byAttrs.get(e.attrs);
        if (list === undefined) byAttrs.set(e.attrs, (list = []));
        list.push(e);
      }
    }
    const msgs: Buffer[] = [];
    for (const [attrs, entries] of byAttrs) msgs.push(...this.encode(attrs, entries));
    if (withEndOfRib) msgs.push(encodeMessage(endOfRib(this.afi), this.ctx));
    return msgs;
  }

  get hasPending(): boolean {
    return this.pendingAnnounce.size > 0 || this.pendingWithdraw.size > 0;
  }

  private encode(attrs: AttrSet, entries: OutEntry[]): Buffer[] {
    const list = keysToList(this.afi, entries.map((e) => e.key), this.addPath ? entries.map((e) => e.pathId) : undefined);
    if (this.afi === Afi.IPV4) return packUpdates(list, attrs.attrs, this.ctx);
    return packUpdates(list, attrs.attrs, this.ctx, attrs.nextHops);
  }
}
