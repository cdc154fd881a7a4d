/**
 * RIB keys for prefixes. IPv4 prefixes become a number so the hot IPv4 maps
 * avoid string keys; IPv6 prefixes become their canonical text.
 *
 * The IPv4 number is 2^len + (the len network bits): a leading 1 bit
 * followed by the prefix's bits, the usual heap numbering of a binary trie.
 * It is unique per prefix (host bits do not take part), and for every length
 * up to /30 it is below 2^31, so V8 keeps it as a small integer: no heap
 * number per Map key or per object field. That is 32 bytes per route less
 * than a key that needs a double, at a million routes 32 MB.
 */
import { Afi, PrefixList, type AfiCode } from '../packet/index.js';

export type PrefixKey = number | string;

/** Key of prefix i of a list. */
export function prefixKey(list: PrefixList, i: number): PrefixKey {
  if (list.afi === Afi.IPV4) return ipv4Key(list.words[i]!, list.lens[i]!);
  return list.prefixString(i);
}

/** Key of the IPv4 prefix `addr/len` (addr as an unsigned 32-bit number; host bits are ignored). */
export function ipv4Key(addr: number, len: number): number {
  // `>>> 32` would shift by 0, so /0 is its own case.
  return len === 0 ? 1 : 2 ** len + ((addr >>> 0) >>> (32 - len));
}

/** Prefix length of an IPv4 key. */
export function ipv4KeyLen(key: number): number {
  return key >= 2 ** 32 ? 32 : 31 - Math.clz32(key);
}

/**
 * Address (unsigned 32-bit) of an IPv4 key whose length is `len`. Runs per
 * prefix on every export and encode, so without objects, and with integer
 * operations up to /30 (the key is then below 2^31, a small integer).
 */
export function ipv4KeyAddr(key: number, len: number): number {
  if (len === 0) return 0;
  if (len <= 30) return ((key ^ (1 << len)) << (32 - len)) >>> 0;
  return (key - 2 ** len) * 2 ** (32 - len);
}

/** Address (unsigned 32-bit) and length of an IPv4 key. */
export function ipv4KeyParts(key: number): { addr: number; len: number } {
  const len = ipv4KeyLen(key);
  return { addr: ipv4KeyAddr(key, len), len };
}

export function keyFamily(key: PrefixKey): AfiCode {
  return typeof key === 'number' ? Afi.IPV4 : Afi.IPV6;
}

/** "addr/len" text of a key. */
export function keyToString(key: PrefixKey): string {
  if (typeof key === 'string') return key;
  const { addr, len } = ipv4KeyParts(key);
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
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as number;
      const len = ipv4KeyLen(k);
      words[i] = ipv4KeyAddr(k, len);
      lens[i] = len;
    }
    return new PrefixList(afi, lens, words, pathIds === undefined ? null : Uint32Array.from(pathIds));
  }
  return PrefixList.fromStrings(afi, keys as string[], pathIds);
}
