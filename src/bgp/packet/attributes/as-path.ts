/**
 * AS_PATH and AS4_PATH (RFC 4271 section 4.3, RFC 6793):
 *
 *   +------------------+-------------------+------------------------------+
 *   | Segment Type (1) | Segment Length (1)| Segment Value (Length x AS)  |
 *   +------------------+-------------------+------------------------------+
 *
 * An AS is 2 octets on a session without the 4-octet AS capability, 4
 * otherwise; AS4_PATH always carries 4-octet ASes.
 */
import { AS_TRANS } from '../iana.js';
import { AttrMalformed } from './malformed.js';
import type { AsPathSegment, SegmentTypeCode } from './types.js';

export function decodeAsPath(buf: Buffer, start: number, end: number, asSize: 2 | 4): AsPathSegment[] {
  const segments: AsPathSegment[] = [];
  let o = start;
  while (o < end) {
    if (o + 2 > end) throw new AttrMalformed('truncated segment header');
    const type = buf[o]!;
    const count = buf[o + 1]!;
    // RFC 7606 section 7.2: unrecognized segment type, zero segment length,
    // or an overrun are all "malformed".
    if (type < 1 || type > 4) throw new AttrMalformed(`unknown segment type ${type}`);
    if (count === 0) throw new AttrMalformed('zero-length segment');
    o += 2;
    if (o + count * asSize > end) throw new AttrMalformed('segment overruns the attribute');
    const asns = new Array<number>(count);
    for (let i = 0; i < count; i++) {
      asns[i] = asSize === 4 ? buf.readUInt32BE(o) : buf.readUInt16BE(o);
      o += asSize;
    }
    segments.push({ type: type as SegmentTypeCode, asns });
  }
  return segments;
}

/** Segments as they go on the wire: at most 255 ASes each. */
function wireSegments(path: readonly AsPathSegment[]): AsPathSegment[] {
  const out: AsPathSegment[] = [];
  for (const seg of path) {
    if (seg.asns.length <= 255) out.push(seg);
    else for (let i = 0; i < seg.asns.length; i += 255) out.push({ type: seg.type, asns: seg.asns.slice(i, i + 255) });
  }
  return out;
}

export function asPathLength(path: readonly AsPathSegment[], asSize: 2 | 4): number {
  let n = 0;
  for (const seg of wireSegments(path)) n += 2 + seg.asns.length * asSize;
  return n;
}

export function encodeAsPath(path: readonly AsPathSegment[], buf: Buffer, offset: number, asSize: 2 | 4): number {
  let o = offset;
  for (const seg of wireSegments(path)) {
    buf[o] = seg.type;
    buf[o + 1] = seg.asns.length;
    o += 2;
    for (const asn of seg.asns) {
      if (asSize === 4) buf.writeUInt32BE(asn >>> 0, o);
      else buf.writeUInt16BE(asn > 0xffff ? AS_TRANS : asn, o);
      o += asSize;
    }
  }
  return o;
}

/** True when some AS in the path needs 4 octets (so AS4_PATH must be sent to a 2-octet peer). */
export function needsAs4Path(path: readonly AsPathSegment[]): boolean {
  return path.some((seg) => seg.asns.some((asn) => asn > 0xffff));
}

/** The AS4_PATH to send beside a 2-octet AS_PATH: confederation segments are left out (RFC 6793 section 3). */
export function as4PathOf(path: readonly AsPathSegment[]): AsPathSegment[] {
  return path.filter((seg) => seg.type === 1 || seg.type === 2);
}

/** Path length as counted for RFC 6793 merging: a SET counts 1, confederation segments 0. */
function countForMerge(path: readonly AsPathSegment[]): number {
  let n = 0;
  for (const seg of path) {
    if (seg.type === 2) n += seg.asns.length;
    else if (seg.type === 1) n += 1;
  }
  return n;
}

/**
 * RFC 6793 section 4.2.3: rebuild the real path from a 2-octet AS_PATH and an
 * AS4_PATH. "If the number of AS numbers in the AS_PATH attribute is less
 * than the number of AS numbers in the AS4_PATH attribute, then the AS4_PATH
 * attribute SHALL be ignored"; otherwise the leading ASes of AS_PATH that
 * AS4_PATH does not cover are kept, followed by AS4_PATH.
 */
export function mergeAs4Path(asPath: readonly AsPathSegment[], as4Path: readonly AsPathSegment[]): AsPathSegment[] {
  const have = countForMerge(asPath);
  const have4 = countForMerge(as4Path);
  if (have < have4) return asPath.map((s) => ({ type: s.type, asns: [...s.asns] }));
  let keep = have - have4;
  const out: AsPathSegment[] = [];
  for (const seg of asPath) {
    if (seg.type === 3 || seg.type === 4) {
      out.push({ type: seg.type, asns: [...seg.asns] });
      continue;
    }
    if (keep === 0) break;
    if (seg.type === 1) {
      out.push({ type: 1, asns: [...seg.asns] });
      keep -= 1;
    } else {
      const take = Math.min(keep, seg.asns.length);
      out.push({ type: 2, asns: seg.asns.slice(0, take) });
      keep -= take;
    }
  }
  for (const seg of as4Path) out.push({ type: seg.type, asns: [...seg.asns] });
  return out;
}
