/**
 * A map from prefix keys to values, for the tables that hold one entry per
 * route (the Loc-RIB's destinations, each update group's Adj-RIB-Out).
 *
 * A JavaScript Map costs 28 bytes per slot of its power-of-two capacity,
 * 28 to 56 bytes per entry, and for a moment twice that while it grows. IPv4
 * keys are numbers (see prefix-key.ts), so they go into an open-addressing
 * table instead: a Uint32Array of keys and a parallel array of values, 12
 * bytes per slot at up to 80% load, 15 to 30 bytes per entry. Keys that do
 * not fit 32 bits (host routes, /32, and the last /31) and IPv6 keys (text)
 * stay in a Map: Calico tables hold few of either.
 *
 * Deleted IPv4 slots become tombstones rather than being back-filled, so
 * iterating while deleting (a peer going down walks its table and drops
 * emptied destinations) neither skips nor repeats entries. Inserting while
 * iterating is not supported (the table may be rebuilt); replacing the value
 * of a key already present is.
 *
 * A table made with `{ tagBits: 16 }` or `{ tagBits: 32 }` keeps a number
 * (a tag) beside each IPv4 value, 2 or 4 bytes per slot, so a caller can
 * store a pair without an object per entry (the Loc-RIB keeps a single path
 * as its attribute set and its source's number), or a number alone (the
 * Adj-RIB-Out keeps an attribute set's id): the value array is allocated only
 * when a value other than undefined is stored. Keys in the Map take no tag:
 * `taggable(key)` says which keys can carry one.
 */
import type { PrefixKey } from './prefix-key.js';

const EMPTY = 0; // no IPv4 key is 0 (the smallest, 0.0.0.0/0, is 1)
const DELETED = 0xffffffff; // keys from here up live in the Map
const MIN_CAPACITY = 16;
const MAX_LOAD = 0.8;

function emptyValues<V>(n: number): (V | undefined)[] {
  // Allocated at its final size (growing it by push would leave a trail of
  // discarded backing stores in the large-object space). V8 keeps it a fast
  // holey array at any size; holes read as undefined.
  return new Array<V | undefined>(n);
}

/** Largest tag a table with 16-bit tags stores. */
export const MAX_TAG = 0xffff;

/** Can `key` carry a tag (an IPv4 key held in the typed arrays)? */
export function taggable(key: PrefixKey): key is number {
  return typeof key === 'number' && key < DELETED;
}

export class PrefixTable<V> {
  private keys4 = new Uint32Array(MIN_CAPACITY);
  /** Values per IPv4 slot; null while every value stored is undefined. */
  private vals4: (V | undefined)[] | null = null;
  /** One tag per IPv4 slot (tagged tables only). */
  private tags4: Uint16Array | Uint32Array | null;
  private readonly maxTag: number;
  /** 32 - log2(capacity): the hash's top bits pick the slot. */
  private shift = 32 - Math.log2(MIN_CAPACITY);
  private live4 = 0;
  /** Live entries plus tombstones: what probing has to step over. */
  private used4 = 0;
  /** IPv6 keys and IPv4 keys of 2^32 - 1 and above. */
  private readonly other = new Map<PrefixKey, V>();
  /** IPv4 keys held in `other` (host routes: their keys are >= DELETED). */
  private other4 = 0;

  constructor(options: { tagBits?: 16 | 32 } = {}) {
    this.tags4 = PrefixTable.tagArray(options.tagBits, MIN_CAPACITY);
    this.maxTag = options.tagBits === undefined ? 0 : 2 ** options.tagBits - 1;
  }

  private static tagArray(bits: 16 | 32 | undefined, n: number): Uint16Array | Uint32Array | null {
    return bits === undefined ? null : bits === 16 ? new Uint16Array(n) : new Uint32Array(n);
  }

  /** A new tag array like the current one, of `n` slots. */
  private tagsLike(n: number): Uint16Array | Uint32Array | null {
    return this.tags4 === null ? null : this.tags4 instanceof Uint16Array ? new Uint16Array(n) : new Uint32Array(n);
  }

  /** Stores slot i's value (allocating the value array on the first real value). */
  private putValue(i: number, value: V | undefined): void {
    if (value !== undefined) (this.vals4 ??= emptyValues(this.keys4.length))[i] = value;
    else if (this.vals4 !== null) this.vals4[i] = undefined;
  }

  /** Entries per family (IPv4 keys are numbers, IPv6 keys strings). */
  get sizeByFamily(): { ipv4: number; ipv6: number } {
    return { ipv4: this.live4 + this.other4, ipv6: this.other.size - this.other4 };
  }

  get size(): number {
    return this.live4 + this.other.size;
  }

  private slotOf(key: number): number {
    // Fibonacci hashing: the top bits of key * 2^32/phi.
    return Math.imul(key, 0x9e3779b1) >>> this.shift;
  }

  /** Slot holding `key`, or -1. */
  private find(key: number): number {
    const keys = this.keys4;
    const mask = keys.length - 1;
    for (let i = this.slotOf(key), n = 0; n < keys.length; i = (i + 1) & mask, n++) {
      const k = keys[i]!;
      if (k === key) return i;
      if (k === EMPTY) return -1;
    }
    return -1;
  }

  get(key: PrefixKey): V | undefined {
    if (typeof key === 'string' || key >= DELETED) return this.other.get(key);
    const i = this.find(key);
    return i < 0 ? undefined : this.vals4?.[i];
  }

  /**
   * The value and tag of `key` in one probe: calls `fn(value, tag)` and
   * returns its result, or undefined when the key is absent. Keys in the Map
   * have tag 0.
   */
  lookup<R>(key: PrefixKey, fn: (value: V, tag: number) => R): R | undefined {
    if (!taggable(key)) {
      const v = this.other.get(key);
      return v === undefined ? undefined : fn(v, 0);
    }
    const i = this.find(key);
    return i < 0 ? undefined : fn(this.vals4?.[i] as V, this.tags4 === null ? 0 : this.tags4[i]!);
  }

  has(key: PrefixKey): boolean {
    return typeof key === 'string' || key >= DELETED ? this.other.has(key) : this.find(key) >= 0;
  }

  /**
   * Sets `key` to `value`; `tag` (tagged tables, taggable keys only) goes
   * beside it. In a tagged table `value` may be undefined for a taggable key
   * (the tag alone is the entry).
   */
  set(key: PrefixKey, value: V, tag = 0): void {
    this.put(key, value, tag);
  }

  /** Sets a taggable `key` to a tag alone (1 or more), with no value. */
  setTag(key: PrefixKey, tag: number): void {
    if (tag === 0) throw new RangeError('a tag alone must not be 0');
    this.put(key, undefined, tag);
  }

  private put(key: PrefixKey, value: V | undefined, tag: number): void {
    if (tag !== 0 && !(tag <= this.maxTag && taggable(key))) throw new RangeError(`prefix key ${key} cannot carry tag ${tag}`);
    if (typeof key === 'string' || key >= DELETED) {
      const before = this.other.size;
      this.other.set(key, value as V); // a tag alone was refused above
      if (typeof key === 'number') this.other4 += this.other.size - before;
      return;
    }
    const at = this.find(key);
    if (at >= 0) {
      this.putValue(at, value);
      if (this.tags4 !== null) this.tags4[at] = tag;
      return;
    }
    if (this.used4 + 1 > this.keys4.length * MAX_LOAD) this.rebuild();
    const keys = this.keys4;
    const mask = keys.length - 1;
    let i = this.slotOf(key);
    while (keys[i] !== EMPTY && keys[i] !== DELETED) i = (i + 1) & mask; // bounded: the load stays below 1
    if (keys[i] === EMPTY) this.used4++;
    keys[i] = key;
    this.putValue(i, value);
    if (this.tags4 !== null) this.tags4[i] = tag;
    this.live4++;
  }

  delete(key: PrefixKey): boolean {
    if (typeof key === 'string' || key >= DELETED) {
      const gone = this.other.delete(key);
      if (gone && typeof key === 'number') this.other4--;
      return gone;
    }
    const i = this.find(key);
    if (i < 0) return false;
    this.keys4[i] = DELETED;
    this.putValue(i, undefined);
    if (this.tags4 !== null) this.tags4[i] = 0;
    this.live4--;
    return true;
  }

  clear(): void {
    this.other.clear();
    this.other4 = 0;
    this.keys4 = new Uint32Array(MIN_CAPACITY);
    this.vals4 = null;
    this.tags4 = this.tagsLike(MIN_CAPACITY);
    this.shift = 32 - Math.log2(MIN_CAPACITY);
    this.live4 = 0;
    this.used4 = 0;
  }

  /**
   * Re-inserts the live IPv4 entries into a table sized for them (dropping
   * tombstones): doubled when more than half full, halved when nearly empty.
   */
  private rebuild(): void {
    let capacity = this.keys4.length;
    if (this.live4 + 1 > capacity * (MAX_LOAD / 2)) capacity *= 2;
    else while (capacity > MIN_CAPACITY && this.live4 + 1 < capacity / 8) capacity /= 2;
    const oldKeys = this.keys4;
    const oldVals = this.vals4;
    const oldTags = this.tags4;
    this.keys4 = new Uint32Array(capacity);
    this.vals4 = oldVals === null ? null : emptyValues(capacity);
    this.tags4 = this.tagsLike(capacity);
    this.shift = 32 - Math.log2(capacity);
    const mask = capacity - 1;
    for (let j = 0; j < oldKeys.length; j++) {
      const k = oldKeys[j]!;
      if (k === EMPTY || k === DELETED) continue;
      let i = this.slotOf(k);
      while (this.keys4[i] !== EMPTY) i = (i + 1) & mask;
      this.keys4[i] = k;
      if (oldVals !== null) this.vals4![i] = oldVals[j];
      if (oldTags !== null) this.tags4![i] = oldTags[j]!;
    }
    this.used4 = this.live4;
  }

  /**
   * Calls `fn` for every entry (with its tag; 0 in untagged tables); the
   * fast way to walk a large table (no iterator objects).
   */
  forEach(fn: (value: V, key: PrefixKey, tag: number) => void): void {
    const keys = this.keys4;
    const vals = this.vals4;
    const tags = this.tags4;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      if (k !== EMPTY && k !== DELETED) fn(vals?.[i] as V, k, tags === null ? 0 : tags[i]!);
    }
    this.other.forEach((v, k) => fn(v, k, 0));
  }

  /** Entries with their tags, as `forEach` walks them (deleted ones are not yielded). */
  *tagged(): IterableIterator<[PrefixKey, V, number]> {
    const keys = this.keys4;
    const vals = this.vals4;
    const tags = this.tags4;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      if (k !== EMPTY && k !== DELETED) yield [k, vals?.[i] as V, tags === null ? 0 : tags[i]!];
    }
    for (const [k, v] of this.other) yield [k, v, 0];
  }

  *entries(): IterableIterator<[PrefixKey, V]> {
    const keys = this.keys4;
    const vals = this.vals4;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      // Re-read the slot: an entry deleted while we iterate is not yielded.
      if (k !== EMPTY && k !== DELETED) yield [k, vals?.[i] as V];
    }
    yield* this.other;
  }

  *values(): IterableIterator<V> {
    const keys = this.keys4;
    const vals = this.vals4;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      if (k !== EMPTY && k !== DELETED) yield vals?.[i] as V;
    }
    yield* this.other.values();
  }

  *keys(): IterableIterator<PrefixKey> {
    const keys = this.keys4;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      if (k !== EMPTY && k !== DELETED) yield k;
    }
    yield* this.other.keys();
  }

  [Symbol.iterator](): IterableIterator<[PrefixKey, V]> {
    return this.entries();
  }
}
