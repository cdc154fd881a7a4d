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
 * Bounds are checked: a malformed message throws a RangeError (the session
 * then fails with it) rather than reading past the buffer.
 */

const HEADER = 19;
const ATTR_NEXT_HOP = 3;
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
