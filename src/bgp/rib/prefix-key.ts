/**
 * RIB keys for prefixes. IPv4 prefixes become a number (address * 64 +
 * length, exact below 2^53) so the hot IPv4 maps avoid string keys; IPv6
 * prefixes become their canonical text.
 */
import { Afi, PrefixList, type AfiCode } from '../packet/index.js';

export type PrefixKey = number | string;

/** Key of prefix i of a list. */
export function prefixKey(list: PrefixList, i: number): PrefixKey {
  if (list.afi === Afi.IPV4) return list.words[i]! * 64 + list.lens[i]!;
  return list.prefixString(i);
}

export function keyFamily(key: PrefixKey): AfiCode {
  return typeof key === 'number' ? Afi.IPV4 : Afi.IPV6;
}

/** "addr/len" text of a key. */
export function keyToString(key: PrefixKey): string {
  if (typeof key === 'string') return key;
  const addr = Math.floor(key / 64);
  const len = key % 64;
  return `${addr >>> 24}.${(addr >>> 16) & 255}.${(addr >>> 8) & 255}.${addr & 255}/${len}`;
}

/** Key of "addr/len" text (throws RangeError on bad text). */
export function keyFromString(text: string): PrefixKey {
  const afi = text.includes(':') ? Afi.IPV6 : Afi.IPV4;
  return prefixKey(PrefixList.fromStrings(afi, [text]), 0);
}

/** Builds a PrefixList from keys of one family (for encoding). */
export function keysToList(afi: AfiCode, keys: readonly PrefixKey[], pathIds?: readonly number[]): PrefixList {
  if (afi === Afi.IPV4) {
    const words = new Uint32Array(keys.length);
    const lens = new Uint8Array(keys.length);
    keys.forEach((k, i) => {
      const n = k as number;
      words[i] = Math.floor(n / 64);
      lens[i] = n % 64;
    });
    return new PrefixList(afi, lens, words, pathIds === undefined ? null : Uint32Array.from(pathIds));
  }
  return PrefixList.fromStrings(afi, keys as string[], pathIds);
}
