/**
 * Attribute interning: routes that carry equal path attributes share one
 * frozen `AttrSet`. Interning keeps memory per route small (a pointer, not a
 * copy) and makes "same attributes?" a pointer comparison, which the
 * Adj-RIB-Out uses to group prefixes into shared UPDATEs.
 *
 * Sets are reference counted; the table forgets a set when the last route
 * using it goes.
 */
import { attributesToJson, type PathAttributes } from '../packet/index.js';

export interface AttrSet {
  readonly id: number;
  /** Never mutated after interning; MP_REACH/MP_UNREACH are never part of it. */
  readonly attrs: Readonly<PathAttributes>;
  /**
   * Next hops of the routes: NEXT_HOP for IPv4 in the NLRI field, or the
   * MP_REACH_NLRI next hops (global, then link-local) for the MP families.
   */
  readonly nextHops: readonly string[];
  /** The canonical key the set was interned under. */
  readonly key: string;
  refs: number;
}

export class AttrTable {
  private readonly byKey = new Map<string, AttrSet>();
  /** The same sets by id, for tables that store a set as its id (the Adj-RIB-Out). */
  private readonly byIdMap = new Map<number, AttrSet>();
  private nextId = 1;

  /**
   * The shared set for these attributes with one more reference. MP
   * attributes are dropped; pass the MP_REACH_NLRI next hops as `mpNextHops`
   * for MP routes.
   */
  intern(attrs: PathAttributes, mpNextHops?: readonly string[]): AttrSet {
    const clean: PathAttributes = { ...attrs };
    delete clean.mpReach;
    delete clean.mpUnreach;
    const nextHops = mpNextHops ?? (clean.nextHop !== undefined ? [clean.nextHop] : []);
    const key = JSON.stringify(attributesToJson(clean)) + (mpNextHops !== undefined ? `|${mpNextHops.join(',')}` : '');
    let set = this.byKey.get(key);
    if (set === undefined) {
      set = { id: this.nextId++, attrs: Object.freeze(clean), nextHops: Object.freeze([...nextHops]), key, refs: 0 };
      this.byKey.set(key, set);
      this.byIdMap.set(set.id, set);
    }
    set.refs++;
    return set;
  }

  /** Takes one more reference to an already interned set. */
  retain(set: AttrSet): AttrSet {
    set.refs++;
    return set;
  }

  release(set: AttrSet): void {
    if (--set.refs === 0) {
      this.byKey.delete(set.key);
      this.byIdMap.delete(set.id);
    }
  }

  /** The interned set with this id (it must still be held by someone). */
  byId(id: number): AttrSet {
    const set = this.byIdMap.get(id);
    if (set === undefined) throw new Error(`attribute set ${id} is not interned`);
    return set;
  }

  get size(): number {
    return this.byKey.size;
  }
}
