/**
 * Update groups: peers of one export class get identical UPDATEs, so the
 * group keeps one Adj-RIB-Out and encodes each change once for all of its
 * members (holo's update queue, BIRD's buckets). Changes are queued per
 * prefix as the wanted state, diffed against the Adj-RIB-Out at flush,
 * grouped by attribute set, and packed into as few UPDATEs as fit.
 *
 * Split horizon for reflected routes: a member is never sent a route whose
 * ORIGINATOR_ID is its own BGP identifier (RFC 4456 section 8 makes it drop
 * such a route anyway; BIRD and FRR do not send it). Such routes are packed
 * into their own UPDATEs (the exported attribute set carries the originator),
 * so skipping them costs nothing per prefix. When a member's own route
 * replaces one it had been sent, it gets a withdrawal instead.
 *
 * Memory matters here (one entry per advertised route per group): without
 * ADD-PATH an entry is just prefix -> interned attribute set; with ADD-PATH
 * it is prefix -> (path id -> attribute set).
 */
import { Afi, type CodecContext, endOfRib, encodeMessage, packUpdates, packWithdrawals, afiSafiKey } from '../packet/index.js';
import type { AttrSet, AttrTable } from '../rib/intern.js';
import { type PrefixKey, keysToList } from '../rib/prefix-key.js';
import { AdjRibOut } from './adj-rib-out.js';
import type { ExportClass } from './export.js';
import { familyOf } from '../family.js';

/** What a group advertises for one prefix: nothing, one route, or (ADD-PATH) routes by path id. */
export type Advertised = AttrSet | Map<number, AttrSet> | null;

export interface GroupMember {
  /** Writes encoded UPDATEs (each Buffer one or more whole messages) to the member's session; false when its socket is full. */
  writeUpdates(messages: readonly Buffer[]): boolean;
  /** The session's negotiated parameters; `peerId` is the member's BGP identifier. */
  readonly negotiated: { readonly peerId: string } | null;
}

/** Prefixes with path ids, as they are collected for one UPDATE run. */
interface KeyRun {
  keys: PrefixKey[];
  ids: number[];
}

function runFor<K>(runs: Map<K, KeyRun>, k: K): KeyRun {
  let r = runs.get(k);
  if (r === undefined) runs.set(k, (r = { keys: [], ids: [] }));
  return r;
}

const originatorOf = (a: AttrSet): string | undefined => a.attrs.originatorId;

function* entries(a: Advertised): Generator<[number, AttrSet]> {
  if (a === null) return;
  if (a instanceof Map) yield* a;
  else yield [0, a];
}

/**
 * One flush's messages for all members as one Buffer (copied once), handed
 * to each member as slices of it: everything but the runs of routes the
 * member originated (split horizon). A member's socket then queues one or a
 * few chunks per flush, not one per message: with thousands of members and
 * thousands of UPDATEs per flush (a Calico cluster converging), per-message
 * writes queued millions of small chunks, and their bookkeeping was most of
 * the reflector's peak memory.
 */
function joinRuns(common: readonly Buffer[], runs: readonly { originator: string | undefined; msgs: readonly Buffer[] }[]): { forMember(id: string | undefined): Buffer[] } {
  const all = Buffer.concat([...common, ...runs.flatMap((r) => r.msgs)]);
  /** Byte ranges of each originator's runs in `all`, in order. */
  const skip = new Map<string, [number, number][]>();
  let at = common.reduce((n, m) => n + m.length, 0);
  for (const r of runs) {
    const len = r.msgs.reduce((n, m) => n + m.length, 0);
    if (r.originator !== undefined && len > 0) {
      let ranges = skip.get(r.originator);
      if (ranges === undefined) skip.set(r.originator, (ranges = []));
      ranges.push([at, at + len]);
    }
    at += len;
  }
  return {
    forMember(id) {
      const ranges = id === undefined ? undefined : skip.get(id);
      if (ranges === undefined) return all.length > 0 ? [all] : [];
      const out: Buffer[] = [];
      let from = 0;
      for (const [start, end] of ranges) {
        if (start > from) out.push(all.subarray(from, start));
        from = end;
      }
      if (from < all.length) out.push(all.subarray(from));
      return out;
    },
  };
}

/**
 * Key of an exported attribute set in `UpdateGroup.exportCache`: the source
 * attribute set's id, the source's index and the communities added. A
 * number in the common case (no communities), so that looking it up per
 * prefix builds no string.
 */
export function exportCacheKey(attrsId: number, sourceIndex: number, communities: string): number | string {
  if (communities === '' && sourceIndex < 2 ** 20 && attrsId < 2 ** 32) return attrsId * 2 ** 20 + sourceIndex;
  return `${attrsId}:${sourceIndex}:${communities}`;
}

export class UpdateGroup {
  /** Every member, joining ones included. */
  readonly members = new Set<GroupMember>();
  /**
   * Members that joined since the last publish. Each is owed the whole
   * table, and all of them get it from one encoding at the next publish
   * (when a restarted reflector's clients reconnect by the thousand, an
   * encoding per member was most of its CPU and, queued on the sockets, most
   * of its memory).
   */
  private readonly joining = new Set<GroupMember>();
  /** What every member has been sent. */
  readonly out: AdjRibOut;
  /** Routes in `out`, in all and per ORIGINATOR_ID (kept as `out` changes, so `status` costs nothing per route). */
  private outCount = 0;
  private readonly outByOriginator = new Map<string, number>();
  /** Wanted state per changed prefix, not yet flushed (holds attribute references). */
  private pending = new Map<PrefixKey, Advertised>();
  /**
   * Exported attribute sets by (source attribute set, source, communities):
   * every prefix of one UPDATE from one peer exports the same attributes, so
   * the export rules and the interning run once per attribute set, not per
   * prefix. Holds one reference per entry.
   */
  readonly exportCache = new Map<number | string, AttrSet>();

  constructor(
    readonly signature: string,
    readonly cls: ExportClass,
    readonly ctx: CodecContext,
    private readonly table: AttrTable,
  ) {
    this.out = new AdjRibOut(table);
  }

  get afi(): 1 | 2 {
    return familyOf(this.cls.family).afi;
  }

  get addPath(): boolean {
    return this.ctx.addPath.has(afiSafiKey(this.afi, 1));
  }

  /** Number of routes advertised to `member`: the group's routes less those split horizon keeps from it. */
  advertisedTo(member: GroupMember): number {
    const id = member.negotiated?.peerId;
    return this.outCount - (id === undefined ? 0 : (this.outByOriginator.get(id) ?? 0));
  }

  /** Counts one route into (+1) or out of (-1) the Adj-RIB-Out. */
  private count(a: AttrSet, delta: 1 | -1): void {
    this.outCount += delta;
    const originator = originatorOf(a);
    if (originator === undefined) return;
    const n = (this.outByOriginator.get(originator) ?? 0) + delta;
    if (n === 0) this.outByOriginator.delete(originator);
    else this.outByOriginator.set(originator, n);
  }

  /** Prefixes changed but not yet published. */
  get pendingCount(): number {
    return this.pending.size;
  }

  get hasPending(): boolean {
    return this.pending.size > 0;
  }

  /** Members waiting for their full table. */
  get hasJoining(): boolean {
    return this.joining.size > 0;
  }

  /** Adds a member; it gets the whole table and End-of-RIB at the next publish. */
  join(member: GroupMember): void {
    this.members.add(member);
    this.joining.add(member);
  }

  leave(member: GroupMember): void {
    this.members.delete(member);
    this.joining.delete(member);
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
    this.out.forEach((v) => {
      for (const [, a] of entries(v)) this.table.release(a);
    });
    for (const v of this.pending.values()) for (const [, a] of entries(v)) this.table.release(a);
    this.out.clear();
    this.joining.clear();
    this.outCount = 0;
    this.outByOriginator.clear();
    this.pending.clear();
    this.clearExportCache();
  }

  /**
   * Encodes the queued changes, applies them to the Adj-RIB-Out, and writes
   * each member its UPDATEs; then members that joined since get the whole
   * table. Returns the number of messages encoded.
   */
  publish(): number {
    const changes = this.publishChanges();
    return changes + this.welcome();
  }

  /** The queued changes, to the members that already have the table. */
  private publishChanges(): number {
    const withdrawKeys: PrefixKey[] = [];
    const withdrawIds: number[] = [];
    const byAttrs = new Map<AttrSet, KeyRun>();
    /** Per originator: routes its own route now replaces (it must withdraw what we sent it). */
    const replaced = new Map<string, KeyRun>();
    const announce = (key: PrefixKey, id: number, a: AttrSet, was: AttrSet | undefined): void => {
      const r = runFor(byAttrs, a);
      r.keys.push(key);
      r.ids.push(id);
      const originator = originatorOf(a);
      if (originator !== undefined && was !== undefined && originatorOf(was) !== originator) {
        const w = runFor(replaced, originator);
        w.keys.push(key);
        w.ids.push(id);
      }
    };
    for (const [key, wanted] of this.pending) {
      const cur = this.out.get(key) ?? null;
      if (!(cur instanceof Map) && !(wanted instanceof Map)) {
        // One route or none on each side (no ADD-PATH): the common case, without iterators.
        if (cur !== null) {
          if (wanted === null) {
            withdrawKeys.push(key);
            withdrawIds.push(0);
          }
          if (wanted !== cur) this.count(cur, -1);
          this.table.release(cur);
        }
        if (wanted !== null && wanted !== cur) {
          this.count(wanted, 1);
          announce(key, 0, wanted, cur ?? undefined);
        }
        if (wanted === null) this.out.delete(key);
        else this.out.set(key, wanted);
        continue;
      }
      // Withdraw what is advertised and no longer wanted.
      for (const [id, a] of entries(cur)) {
        const still = wanted === null ? undefined : wanted instanceof Map ? wanted.get(id) : id === 0 ? wanted : undefined;
        if (still === undefined) {
          withdrawKeys.push(key);
          withdrawIds.push(id);
        }
        if (still !== a) this.count(a, -1);
        this.table.release(a);
      }
      // Announce what is new or changed.
      for (const [id, a] of entries(wanted)) {
        const was = cur === null ? undefined : cur instanceof Map ? cur.get(id) : id === 0 ? cur : undefined;
        if (was !== a) {
          this.count(a, 1);
          announce(key, id, a, was);
        }
      }
      if (wanted === null || (wanted instanceof Map && wanted.size === 0)) this.out.delete(key);
      else this.out.set(key, wanted);
    }
    this.pending = new Map();
    const common = withdrawKeys.length > 0 ? this.withdrawals({ keys: withdrawKeys, ids: withdrawIds }) : [];
    const runs = [...byAttrs].map(([attrs, r]) => ({ originator: originatorOf(attrs), msgs: this.encode(attrs, r.keys, r.ids) }));
    const own = new Map([...replaced].map(([originator, r]) => [originator, this.withdrawals(r)]));
    let count = common.length + runs.reduce((n, r) => n + r.msgs.length, 0);
    for (const m of own.values()) count += m.length;
    if (count === 0) return 0;
    const batch = joinRuns(common, runs);
    for (const member of this.members) {
      if (this.joining.has(member)) continue; // it gets the table as it is now
      const id = member.negotiated?.peerId;
      const out = batch.forMember(id);
      const mine = id === undefined ? undefined : own.get(id);
      if (mine !== undefined) for (const m of mine) out.push(m);
      if (out.length > 0) member.writeUpdates(out);
    }
    return count;
  }

  /** Writes the joining members the whole table and End-of-RIB, encoded once for all of them. */
  private welcome(): number {
    if (this.joining.size === 0) return 0;
    const table = this.encodeTable();
    const eor = encodeMessage(endOfRib(this.afi), this.ctx);
    for (const member of this.joining) member.writeUpdates([...table.batch.forMember(member.negotiated?.peerId), eor]);
    this.joining.clear();
    return table.count + 1;
  }

  /** The whole Adj-RIB-Out as UPDATEs, sliceable per member (split horizon). */
  private encodeTable(): { batch: ReturnType<typeof joinRuns>; count: number } {
    const byAttrs = new Map<AttrSet, KeyRun>();
    this.out.forEach((v, key) => {
      for (const [pathId, a] of entries(v)) {
        const r = runFor(byAttrs, a);
        r.keys.push(key);
        r.ids.push(pathId);
      }
    });
    const runs = [...byAttrs].map(([attrs, r]) => ({ originator: originatorOf(attrs), msgs: this.encode(attrs, r.keys, r.ids) }));
    return { batch: joinRuns([], runs), count: runs.reduce((n, r) => n + r.msgs.length, 0) };
  }

  /**
   * The whole Adj-RIB-Out for one member as UPDATEs (a route refresh),
   * without the routes it originated.
   */
  fullTable(member: GroupMember): Buffer[] {
    return this.encodeTable().batch.forMember(member.negotiated?.peerId);
  }

  private withdrawals(r: KeyRun): Buffer[] {
    return packWithdrawals(keysToList(this.afi, r.keys, this.addPath ? r.ids : undefined), this.ctx);
  }

  private encode(attrs: AttrSet, keys: PrefixKey[], ids: number[]): Buffer[] {
    const list = keysToList(this.afi, keys, this.addPath ? ids : undefined);
    if (this.afi === Afi.IPV4) return packUpdates(list, attrs.attrs, this.ctx);
    return packUpdates(list, attrs.attrs, this.ctx, attrs.nextHops);
  }
}
