/**
 * `PrefixList`: the compact form NLRI take in memory, shared by the codec and
 * the RIB. Parallel typed arrays instead of one object per prefix, so that
 * decoding a packed UPDATE of a thousand prefixes allocates three arrays, not
 * a thousand strings.
 *
 *   afi 1 (IPv4): words[i]              is prefix i's address
 *   afi 2 (IPv6): words[4*i .. 4*i+3]   are prefix i's address, big-endian words
 *   lens[i]: prefix length; pathIds[i]: ADD-PATH identifier (RFC 7911) or null
 *
 * Host bits beyond the prefix length are always zero.
 */
import { Afi, type AfiCode } from './iana.js';
import { ipv4ToString, ipv6ToString, maskWord, parseIpv4, parseIpv6 } from '../../net/ip.js';

export class PrefixList {
  constructor(
    readonly afi: AfiCode,
    readonly lens: Uint8Array,
    readonly words: Uint32Array,
    readonly pathIds: Uint32Array | null,
  ) {}

  /** Number of prefixes. */
  get count(): number {
    return this.lens.length;
  }

  /** Words per address: 1 for IPv4, 4 for IPv6. */
  get stride(): number {
    return this.afi === Afi.IPV4 ? 1 : 4;
  }

  /** "addr/len" text of prefix i (RFC 5952 for IPv6). */
  prefixString(i: number): string {
    const addr = this.afi === Afi.IPV4 ? ipv4ToString(this.words[i]!) : ipv6ToString(this.words, 4 * i);
    return `${addr}/${this.lens[i]}`;
  }

  toStrings(): string[] {
    const out = new Array<string>(this.count);
    for (let i = 0; i < this.count; i++) out[i] = this.prefixString(i);
    return out;
  }

  /** Prefixes [from, to) as a new list sharing no memory with this one. */
  slice(from: number, to: number): PrefixList {
    const s = this.stride;
    return new PrefixList(
      this.afi,
      this.lens.slice(from, to),
      this.words.slice(from * s, to * s),
      this.pathIds === null ? null : this.pathIds.slice(from, to),
    );
  }

  /** The empty list of a family (shared: zero-length arrays cannot be modified). */
  static empty(afi: AfiCode): PrefixList {
    return afi === Afi.IPV4 ? EMPTY_V4 : EMPTY_V6;
  }

  /**
   * Builds a list from "addr/len" strings. Host bits are cleared. Throws
   * RangeError on text that is not a prefix of the family.
   */
  static fromStrings(afi: AfiCode, prefixes: readonly string[], pathIds?: readonly number[]): PrefixList {
    const stride = afi === Afi.IPV4 ? 1 : 4;
    const lens = new Uint8Array(prefixes.length);
    const words = new Uint32Array(prefixes.length * stride);
    prefixes.forEach((text, i) => {
      const slash = text.lastIndexOf('/');
      const lenText = slash < 0 ? '' : text.slice(slash + 1);
      const len = /^\d{1,3}$/.test(lenText) ? Number(lenText) : NaN;
      const maxLen = afi === Afi.IPV4 ? 32 : 128;
      if (!(len >= 0 && len <= maxLen)) throw new RangeError(`invalid prefix '${text}'`);
      lens[i] = len;
      if (afi === Afi.IPV4) {
        const addr = parseIpv4(text.slice(0, slash));
        if (addr === undefined) throw new RangeError(`invalid IPv4 prefix '${text}'`);
        words[i] = maskWord(addr, len);
      } else {
        const addr = parseIpv6(text.slice(0, slash));
        if (addr === undefined) throw new RangeError(`invalid IPv6 prefix '${text}'`);
        for (let w = 0; w < 4; w++) words[4 * i + w] = maskWord(addr[w]!, len - 32 * w);
      }
    });
    let ids: Uint32Array | null = null;
    if (pathIds !== undefined) {
      if (pathIds.length !== prefixes.length) throw new RangeError('pathIds must match prefixes one to one');
      ids = Uint32Array.from(pathIds);
    }
    return new PrefixList(afi, lens, words, ids);
  }
}

const EMPTY_V4 = new PrefixList(Afi.IPV4, new Uint8Array(0), new Uint32Array(0), null);
const EMPTY_V6 = new PrefixList(Afi.IPV6, new Uint8Array(0), new Uint32Array(0), null);
