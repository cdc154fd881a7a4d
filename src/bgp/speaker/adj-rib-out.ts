/**
 * An update group's Adj-RIB-Out: what every member has been sent, per
 * prefix: one attribute set, or (ADD-PATH) attribute sets by path id.
 *
 * It holds one entry per advertised route, so at a million routes its
 * layout is a good part of a reflector's memory. Without ADD-PATH an IPv4
 * entry is the attribute set's id in the prefix table's 4-byte tag column,
 * with no value array at all (a pointer per slot is 8 bytes, and a value
 * array lives on the V8 heap, where growing it leaves the old one behind
 * as garbage until a full collection). Other entries keep their values.
 */
import type { AttrSet, AttrTable } from '../rib/intern.js';
import type { PrefixKey } from '../rib/prefix-key.js';
import { PrefixTable, taggable } from '../rib/prefix-table.js';

/** What a group has sent for one prefix. */
export type SentRoutes = AttrSet | Map<number, AttrSet>;

const MAX_ID = 0xffffffff;

export class AdjRibOut {
  private readonly table = new PrefixTable<SentRoutes>({ tagBits: 32 });
  private readonly resolve = (value: SentRoutes, tag: number): SentRoutes => (tag === 0 ? value : this.attrs.byId(tag));

  constructor(private readonly attrs: AttrTable) {}

  get size(): number {
    return this.table.size;
  }

  get(key: PrefixKey): SentRoutes | undefined {
    return this.table.lookup(key, this.resolve);
  }

  /** Records what was sent; the caller keeps the attribute references. */
  set(key: PrefixKey, sent: SentRoutes): void {
    if (!(sent instanceof Map) && taggable(key) && sent.id <= MAX_ID) this.table.setTag(key, sent.id);
    else this.table.set(key, sent);
  }

  delete(key: PrefixKey): void {
    this.table.delete(key);
  }

  clear(): void {
    this.table.clear();
  }

  /** Calls `fn` for every entry (no iterator objects). */
  forEach(fn: (sent: SentRoutes, key: PrefixKey) => void): void {
    this.table.forEach((value, key, tag) => fn(tag === 0 ? value : this.attrs.byId(tag), key));
  }
}
