/**
 * NLRI on the wire (RFC 4271 section 4.3, RFC 4760 section 5, RFC 7911 section 3):
 *
 *   +---------------------------+
 *   |  Path Identifier (4 octets) |   only where ADD-PATH applies
 *   +---------------------------+
 *   |   Length (1 octet)         |   prefix length in bits
 *   +---------------------------+
 *   |   Prefix (variable)        |   ceil(length / 8) octets
 *   +---------------------------+
 *
 * Decoding validates the whole field in a first pass (so the second pass can
 * fill exactly-sized arrays without checks), and clears host bits: RFC 4271
 * says trailing bits are irrelevant, so two encodings of one prefix must not
 * become two routes.
 */
import { Afi, type AfiCode } from './iana.js';
import { PrefixList } from './prefix.js';

/** Why an NLRI field could not be parsed; the caller turns it into its own error kind. */
export type NlriErrorFn = (reason: string) => never;

/** Decodes the prefixes in buf[start, end). */
export function decodePrefixes(
  buf: Buffer,
  start: number,
  end: number,
  afi: AfiCode,
  addPath: boolean,
  onError: NlriErrorFn,
): PrefixList {
  const maxLen = afi === Afi.IPV4 ? 32 : 128;
  const idBytes = addPath ? 4 : 0;
  // Pass 1: validate and count.
  let count = 0;
  let i = start;
  while (i < end) {
    i += idBytes;
    if (i >= end) onError('NLRI truncated inside a path identifier or before a prefix length');
    const len = buf[i]!;
    if (len > maxLen) onError(`prefix length ${len} exceeds ${maxLen}`);
    i += 1 + ((len + 7) >> 3);
    if (i > end) onError(`prefix of length ${len} overruns the NLRI field`);
    count++;
  }
  if (count === 0) return PrefixList.empty(afi);

  // Pass 2: fill.
  const lens = new Uint8Array(count);
  const pathIds = addPath ? new Uint32Array(count) : null;
  i = start;
  if (afi === Afi.IPV4) {
    const words = new Uint32Array(count);
    for (let k = 0; k < count; k++) {
      if (pathIds !== null) {
        pathIds[k] = buf.readUInt32BE(i);
        i += 4;
      }
      const len = buf[i++]!;
      lens[k] = len;
      let a = 0;
      switch ((len + 7) >> 3) {
        case 4:
          a = (buf[i]! << 24) | (buf[i + 1]! << 16) | (buf[i + 2]! << 8) | buf[i + 3]!;
          i += 4;
          break;
        case 3:
          a = (buf[i]! << 24) | (buf[i + 1]! << 16) | (buf[i + 2]! << 8);
          i += 3;
          break;
        case 2:
          a = (buf[i]! << 24) | (buf[i + 1]! << 16);
          i += 2;
          break;
        case 1:
          a = buf[i]! << 24;
          i += 1;
          break;
        default:
          break;
      }
      words[k] = len === 0 ? 0 : (a & (0xffffffff << (32 - len))) >>> 0;
    }
    return new PrefixList(afi, lens, words, pathIds);
  }
  const words = new Uint32Array(count * 4);
  for (let k = 0; k < count; k++) {
    if (pathIds !== null) {
      pathIds[k] = buf.readUInt32BE(i);
      i += 4;
    }
    const len = buf[i++]!;
    lens[k] = len;
    const nbytes = (len + 7) >> 3;
    for (let b = 0; b < nbytes; b++) {
      const w = 4 * k + (b >> 2);
      words[w] = (words[w]! | (buf[i + b]! << (24 - 8 * (b & 3)))) >>> 0;
    }
    i += nbytes;
    // Clear host bits in the last partially-covered word.
    const rem = len & 31;
    if (rem !== 0) {
      const w = 4 * k + (len >> 5);
      words[w] = (words[w]! & (0xffffffff << (32 - rem))) >>> 0;
    }
  }
  return new PrefixList(afi, lens, words, pathIds);
}

/** Wire size of one prefix. */
export function prefixWireSize(len: number, addPath: boolean): number {
  return (addPath ? 5 : 1) + ((len + 7) >> 3);
}

/** Wire size of prefixes [from, to). */
export function prefixesWireSize(list: PrefixList, from: number, to: number, addPath: boolean): number {
  let size = 0;
  const lens = list.lens;
  for (let k = from; k < to; k++) size += (lens[k]! + 7) >> 3;
  return size + (to - from) * (addPath ? 5 : 1);
}

/**
 * How many prefixes starting at `from` fit in `budget` bytes: returns the
 * exclusive end index (== from when not even one fits).
 */
export function fitPrefixes(list: PrefixList, from: number, budget: number, addPath: boolean): number {
  const fixed = addPath ? 5 : 1;
  const lens = list.lens;
  let used = 0;
  let k = from;
  const n = list.count;
  while (k < n) {
    const size = fixed + ((lens[k]! + 7) >> 3);
    if (used + size > budget) break;
    used += size;
    k++;
  }
  return k;
}

/**
 * Writes prefixes [from, to) at `offset`; returns the next offset. Prefixes
 * without a path identifier are sent with identifier 0 on an ADD-PATH session.
 */
export function writePrefixes(list: PrefixList, from: number, to: number, buf: Buffer, offset: number, addPath: boolean): number {
  let o = offset;
  const { lens, words, pathIds } = list;
  if (list.afi === Afi.IPV4) {
    for (let k = from; k < to; k++) {
      if (addPath) {
        const id = pathIds === null ? 0 : pathIds[k]!;
        buf[o] = id >>> 24;
        buf[o + 1] = (id >>> 16) & 0xff;
        buf[o + 2] = (id >>> 8) & 0xff;
        buf[o + 3] = id & 0xff;
        o += 4;
      }
      const len = lens[k]!;
      const a = words[k]!;
      buf[o++] = len;
      const nbytes = (len + 7) >> 3;
      if (nbytes > 0) buf[o++] = a >>> 24;
      if (nbytes > 1) buf[o++] = (a >>> 16) & 0xff;
      if (nbytes > 2) buf[o++] = (a >>> 8) & 0xff;
      if (nbytes > 3) buf[o++] = a & 0xff;
    }
    return o;
  }
  for (let k = from; k < to; k++) {
    if (addPath) {
      buf.writeUInt32BE(pathIds === null ? 0 : pathIds[k]!, o);
      o += 4;
    }
    const len = lens[k]!;
    buf[o++] = len;
    const nbytes = (len + 7) >> 3;
    for (let b = 0; b < nbytes; b++) buf[o++] = (words[4 * k + (b >> 2)]! >>> (24 - 8 * (b & 3))) & 0xff;
  }
  return o;
}
