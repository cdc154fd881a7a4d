/**
 * Reads what the simulation needs from an IPv4 unicast UPDATE straight from
 * its bytes: the withdrawn prefixes, the NEXT_HOP and the announced prefixes,
 * handed to a visitor as 32-bit integers. No objects are built per message
 * or per prefix, so the harness that plays thousands of nodes stays cheaper
 * than the reflectors it measures.
 *
 * RFC 4271 section 4.3, the layout walked here:
 *
 *   +-----------------------------------------------------+
 *   |   Withdrawn Routes Length (2 octets)                |
 *   |   Withdrawn Routes (variable)                       |
 *   |   Total Path Attribute Length (2 octets)            |
 *   |   Path Attributes (variable)                        |
 *   |   Network Layer Reachability Information (variable) |
 *   +-----------------------------------------------------+
 *
 * IPv6 unicast (RFC 4760) travels in the MP_REACH_NLRI / MP_UNREACH_NLRI
 * attributes instead; `scanIpv6Update` reports a prefix or next hop by its
 * low 32 bits when its upper 96 bits are the expected ones (the simulation's
 * blocks and nodes each share theirs), and anything else as out of range.
 *
 * Bounds are checked: a malformed message throws a RangeError (the session
 * then fails with it) rather than reading past the buffer.
 */

const HEADER = 19;
const ATTR_NEXT_HOP = 3;
const ATTR_MP_REACH = 14;
const ATTR_MP_UNREACH = 15;
const AFI_IPV6 = 2;
const SAFI_UNICAST = 1;
/** What `scanIpv6Update` reports as the length of a prefix outside the expected /96. */
export const OUT_OF_RANGE = -1;
const FLAG_EXTENDED_LENGTH = 0x10;

/** What a scan reports; `len` is the prefix length in bits. */
export interface UpdateVisitor {
  withdraw(addr: number, len: number): void;
  announce(addr: number, len: number, nextHop: number): void;
}

/** An IPv4 unicast End-of-RIB: an UPDATE with nothing in it (RFC 4724 section 2). */
export function isIpv4EndOfRib(msg: Buffer): boolean {
  return msg.length === HEADER + 4;
}

/** Walks `count`-less prefix encodings in [start, end), calling `each(addr, len)`. */
function walkPrefixes(msg: Buffer, start: number, end: number, each: (addr: number, len: number) => void): void {
  let o = start;
  while (o < end) {
    const len = msg[o]!;
    const bytes = (len + 7) >> 3;
    if (len > 32 || o + 1 + bytes > end) throw new RangeError(`bad IPv4 prefix at offset ${o}`);
    let addr = 0;
    for (let i = 0; i < 4; i++) addr = (addr << 8) | (i < bytes ? msg[o + 1 + i]! : 0);
    each(addr >>> 0, len);
    o += 1 + bytes;
  }
}

/** The NEXT_HOP attribute's value in [start, end), or 0 when absent. */
function nextHopOf(msg: Buffer, start: number, end: number): number {
  let o = start;
  while (o + 3 <= end) {
    const flags = msg[o]!;
    const type = msg[o + 1]!;
    const ext = (flags & FLAG_EXTENDED_LENGTH) !== 0;
    const len = ext ? msg.readUInt16BE(o + 2) : msg[o + 2]!;
    const value = o + (ext ? 4 : 3);
    if (value + len > end) throw new RangeError(`path attribute ${type} overruns the attributes`);
    if (type === ATTR_NEXT_HOP && len === 4) return msg.readUInt32BE(value);
    o = value + len;
  }
  return 0;
}

/** Scans one whole UPDATE message (header included). */
export function scanIpv4Update(msg: Buffer, v: UpdateVisitor): void {
  if (msg.length < HEADER + 4) throw new RangeError('UPDATE shorter than 23 octets');
  const withdrawnLen = msg.readUInt16BE(HEADER);
  const attrsAt = HEADER + 2 + withdrawnLen;
  if (attrsAt + 2 > msg.length) throw new RangeError('withdrawn routes overrun the UPDATE');
  walkPrefixes(msg, HEADER + 2, attrsAt, (a, l) => v.withdraw(a, l));
  const attrsLen = msg.readUInt16BE(attrsAt);
  const nlriAt = attrsAt + 2 + attrsLen;
  if (nlriAt > msg.length) throw new RangeError('path attributes overrun the UPDATE');
  if (nlriAt === msg.length) return;
  const nextHop = nextHopOf(msg, attrsAt + 2, nlriAt);
  walkPrefixes(msg, nlriAt, msg.length, (a, l) => v.announce(a, l, nextHop));
}

/** An IPv6 unicast End-of-RIB: an UPDATE whose only attribute is an empty MP_UNREACH_NLRI for 2/1. */
export function isIpv6EndOfRib(msg: Buffer): boolean {
  if (msg.length < HEADER + 4 || msg.readUInt16BE(HEADER) !== 0) return false;
  const attrsLen = msg.readUInt16BE(HEADER + 2);
  if (HEADER + 4 + attrsLen !== msg.length) return false;
  const o = HEADER + 4;
  const ext = (msg[o]! & FLAG_EXTENDED_LENGTH) !== 0;
  const value = o + (ext ? 4 : 3);
  if (msg[o + 1] !== ATTR_MP_UNREACH || value + 3 !== msg.length) return false;
  return (ext ? msg.readUInt16BE(o + 2) : msg[o + 2]) === 3 && msg.readUInt16BE(value) === AFI_IPV6 && msg[value + 2] === SAFI_UNICAST;
}

/** The upper 96 bits of the 16 octets at `at` equal `high` (three big-endian words). */
function highMatches(msg: Buffer, at: number, high: readonly number[]): boolean {
  return msg.readUInt32BE(at) === high[0] && msg.readUInt32BE(at + 4) === high[1] && msg.readUInt32BE(at + 8) === high[2];
}

/** One prefix at a time is widened to 16 octets here: no allocation per message. */
const SCRATCH = Buffer.alloc(16);

/** Walks IPv6 prefixes in [start, end): each is reported by its low 32 bits, or with OUT_OF_RANGE as its length. */
function walkIpv6Prefixes(msg: Buffer, start: number, end: number, high: readonly number[], each: (low: number, len: number) => void): void {
  const full = SCRATCH;
  let o = start;
  while (o < end) {
    const len = msg[o]!;
    const bytes = (len + 7) >> 3;
    if (len > 128 || o + 1 + bytes > end) throw new RangeError(`bad IPv6 prefix at offset ${o}`);
    full.fill(0);
    msg.copy(full, 0, o + 1, o + 1 + bytes);
    each(full.readUInt32BE(12), len > 96 && highMatches(full, 0, high) ? len : OUT_OF_RANGE);
    o += 1 + bytes;
  }
}

/** Where the IPv6 blocks and the nodes' next hops live: the upper 96 bits of each. */
export interface Ipv6Ranges {
  prefixHigh: readonly number[];
  nextHopHigh: readonly number[];
}

/**
 * Scans one whole UPDATE of an IPv6 unicast session: MP_UNREACH_NLRI
 * prefixes are withdrawals, MP_REACH_NLRI prefixes announcements with its
 * (global) next hop, reported by its low 32 bits (0 when outside
 * `nextHopHigh`). Prefixes outside `prefixHigh` come with OUT_OF_RANGE as
 * their length. Other families' MP attributes are ignored.
 */
export function scanIpv6Update(msg: Buffer, ranges: Ipv6Ranges, v: UpdateVisitor): void {
  if (msg.length < HEADER + 4) throw new RangeError('UPDATE shorter than 23 octets');
  const attrsAt = HEADER + 2 + msg.readUInt16BE(HEADER);
  if (attrsAt + 2 > msg.length) throw new RangeError('withdrawn routes overrun the UPDATE');
  const end = attrsAt + 2 + msg.readUInt16BE(attrsAt);
  if (end > msg.length) throw new RangeError('path attributes overrun the UPDATE');
  let o = attrsAt + 2;
  while (o + 3 <= end) {
    const flags = msg[o]!;
    const type = msg[o + 1]!;
    const ext = (flags & FLAG_EXTENDED_LENGTH) !== 0;
    const len = ext ? msg.readUInt16BE(o + 2) : msg[o + 2]!;
    const value = o + (ext ? 4 : 3);
    const stop = value + len;
    if (stop > end) throw new RangeError(`path attribute ${type} overruns the attributes`);
    o = stop;
    if ((type !== ATTR_MP_REACH && type !== ATTR_MP_UNREACH) || len < 3) continue;
    if (msg.readUInt16BE(value) !== AFI_IPV6 || msg[value + 2] !== SAFI_UNICAST) continue;
    if (type === ATTR_MP_UNREACH) {
      walkIpv6Prefixes(msg, value + 3, stop, ranges.prefixHigh, (a, l) => v.withdraw(a, l));
      continue;
    }
    const nhLen = msg[value + 3] ?? 0;
    const nlriAt = value + 4 + nhLen + 1; // next hop, then one reserved octet
    if ((nhLen !== 16 && nhLen !== 32) || nlriAt > stop) throw new RangeError(`MP_REACH_NLRI with a ${nhLen}-octet IPv6 next hop`);
    const nextHop = highMatches(msg, value + 4, ranges.nextHopHigh) ? msg.readUInt32BE(value + 16) : 0;
    walkIpv6Prefixes(msg, nlriAt, stop, ranges.prefixHigh, (a, l) => v.announce(a, l, nextHop));
  }
}
