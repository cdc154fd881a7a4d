/**
 * rtnetlink messages for kernel routes, as bytes: requests we send
 * (RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE dump, RTM_GETLINK by name) and
 * the replies we read back (routes, links, ACK/error, end of dump).
 *
 * Pure: no sockets, no timers. Netlink is in host byte order, addresses in
 * network order. References: netlink(7), rtnetlink(7), <linux/rtnetlink.h>.
 *
 * Every message starts with a netlink header (16 octets, host order):
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                          nlmsg_len                            |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |          nlmsg_type           |          nlmsg_flags          |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                          nlmsg_seq                            |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                          nlmsg_pid                            |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * and route messages carry a `struct rtmsg` (12 octets) then attributes
 * (`struct rtattr`: u16 length incl. its 4-octet header, u16 type, value,
 * padded to 4):
 *
 *    | family | dst_len | src_len | tos | table | protocol | scope | type |
 *    |                           flags (u32)                              |
 */
import { constants as osConstants, endianness } from 'node:os';
import { ipv4ToString, ipv6BytesToString, parseIpv4, parseIpv6, parsePrefixLength } from '../../net/ip.js';
import { familyOf } from '../family.js';

// ---------------------------------------------------------------------------
// Constants (<linux/netlink.h>, <linux/rtnetlink.h>)

export const NLMSG_HDRLEN = 16;
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

export const RTM_NEWLINK = 16;
export const RTM_GETLINK = 18;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
/** On a GET: dump everything (NLM_F_ROOT | NLM_F_MATCH). */
export const NLM_F_DUMP = 0x300;
/** On a NEW: replace an existing object. */
export const NLM_F_REPLACE = 0x100;
/** On a NEW: fail with EEXIST if the object exists. */
export const NLM_F_EXCL = 0x200;
/** On a NEW: create the object if it does not exist. */
export const NLM_F_CREATE = 0x400;
/** On an ACK: the request was not copied into it (NETLINK_CAP_ACK). */
export const NLM_F_CAPPED = 0x100;
/** On an ACK: extended-ACK attributes follow. */
export const NLM_F_ACK_TLVS = 0x200;

/** Extended ACK attribute: the kernel's error text. */
export const NLMSGERR_ATTR_MSG = 1;

export const AF_INET = 2;
export const AF_INET6 = 10;

export const RTA_DST = 1;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PRIORITY = 6;
export const RTA_MULTIPATH = 9;
export const RTA_TABLE = 15;

export const IFLA_IFNAME = 3;

export const RTN_UNICAST = 1;
export const RTN_LOCAL = 2;
export const RTN_BLACKHOLE = 6;
export const RTN_UNREACHABLE = 7;
export const RTN_PROHIBIT = 8;

export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_LINK = 253;
/** On a delete: match a route of any scope. */
export const RT_SCOPE_NOWHERE = 255;

export const RT_TABLE_UNSPEC = 0;
export const RT_TABLE_COMPAT = 252;
export const RT_TABLE_MAIN = 254;

/** Next-hop flag: the gateway is on the link even if no address says so. */
export const RTNH_F_ONLINK = 4;

const RTMSG_LEN = 12;
const IFINFOMSG_LEN = 16;
const RTNH_LEN = 8;

// ---------------------------------------------------------------------------
// Host-order integers

const LE = endianness() === 'LE';

function w16(buf: Buffer, v: number, at: number): void {
  if (LE) buf.writeUInt16LE(v, at);
  else buf.writeUInt16BE(v, at);
}
function w32(buf: Buffer, v: number, at: number): void {
  if (LE) buf.writeUInt32LE(v >>> 0, at);
  else buf.writeUInt32BE(v >>> 0, at);
}
function r16(buf: Buffer, at: number): number {
  return LE ? buf.readUInt16LE(at) : buf.readUInt16BE(at);
}
function r32(buf: Buffer, at: number): number {
  return LE ? buf.readUInt32LE(at) : buf.readUInt32BE(at);
}
function ri32(buf: Buffer, at: number): number {
  return LE ? buf.readInt32LE(at) : buf.readInt32BE(at);
}

/** Netlink's 4-octet alignment. */
export function align4(n: number): number {
  return (n + 3) & ~3;
}

// ---------------------------------------------------------------------------
// Errors

/** A reply that does not parse: truncated, or a length that points outside the buffer. */
export class NetlinkDecodeError extends Error {
  override readonly name = 'NetlinkDecodeError';
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} at offset ${offset}`);
  }
}

const errnoNames = new Map<number, string>(Object.entries(osConstants.errno).map(([name, n]) => [n, name]));

/** `ENOENT` for 2, `E123` for a number Node does not name. */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

// ---------------------------------------------------------------------------
// Addresses and prefixes

export type Family = 4 | 6;

/** A prefix in wire form: family, the masked address octets, the length, and its canonical text. */
export interface ParsedPrefix {
  family: Family;
  addr: Buffer;
  len: number;
  /** The masked address alone: `192.0.2.0`. */
  address: string;
  /** `192.0.2.0/24`, `2001:db8::/32`: host bits cleared, RFC 5952 for IPv6. */
  text: string;
}

/**
 * A prefix as numbers, filled in place by `parsePrefixInto`: the kernel FIB
 * parses one per route and keeps none, so it reuses one of these.
 */
export interface PrefixWords {
  family: Family;
  len: number;
  /** IPv4: the masked address as an unsigned number. */
  v4: number;
  /** IPv6: the masked address as four unsigned words, most significant first. */
  v6: Uint32Array;
}

/** A `PrefixWords` to parse into. */
export function prefixWords(): PrefixWords {
  return { family: 4, len: 0, v4: 0, v6: new Uint32Array(4) };
}

/**
 * Parses `addr/len` (a bare address means a host route) into `out` and
 * returns the canonical text (`parsePrefix(text).text`): `text` itself
 * when it already is canonical, so a caller's strings are kept, not
 * copied. IPv4 is read in place by src/net's parser, allocating
 * nothing; IPv6 goes through `parsePrefix`. Throws RangeError when invalid.
 */
export function parsePrefixInto(text: string, out: PrefixWords): string {
  const n = text.length;
  const slash = text.indexOf('/');
  const addr = text.charCodeAt(0) === 58 ? undefined : parseIpv4(text, 0, slash < 0 ? n : slash);
  if (addr !== undefined) {
    const len = slash < 0 ? 32 : parsePrefixLength(text, slash + 1, n, 32);
    if (len === undefined) throw new RangeError(`invalid prefix length in '${text}'`);
    const masked = len === 0 ? 0 : (addr & (0xffffffff << (32 - len))) >>> 0;
    out.family = 4;
    out.len = len;
    out.v4 = masked;
    // Canonical already when written with its length ("/32" is added to a bare address) and no host bits.
    return slash >= 0 && masked === addr ? text : `${ipv4ToString(masked)}/${len}`;
  }
  const p = parsePrefix(text);
  out.family = p.family;
  out.len = p.len;
  if (p.family === 4) {
    out.v4 = p.addr.readUInt32BE(0);
  } else {
    for (let w = 0; w < 4; w++) out.v6[w] = p.addr.readUInt32BE(4 * w);
  }
  return p.text === text ? text : p.text;
}

/** Address text -> 4 or 16 octets, or undefined if it is not an address. */
export function addressBytes(text: string): Buffer | undefined {
  if (text.includes(':')) {
    const words = parseIpv6(text);
    if (words === undefined) return undefined;
    const b = Buffer.allocUnsafe(16); // pooled: this runs per route
    for (let i = 0; i < 4; i++) b.writeUInt32BE(words[i]!, 4 * i);
    return b;
  }
  const v = parseIpv4(text);
  if (v === undefined) return undefined;
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(v, 0);
  return b;
}

/** Canonical text of an address (RFC 5952 for IPv6), or undefined if it is not one. */
export function canonicalAddress(text: string): string | undefined {
  if (!text.includes(':')) {
    const v = parseIpv4(text);
    return v === undefined ? undefined : ipv4ToString(v);
  }
  const b = addressBytes(text);
  return b === undefined ? undefined : addressText(b);
}

/** 4 or 16 octets -> address text. */
export function addressText(b: Buffer, at = 0, len = b.length - at): string {
  return len === 4 ? ipv4ToString(b.readUInt32BE(at)) : ipv6BytesToString(b, at);
}

/** Parses `addr/len` (a bare address means a host route); throws RangeError when invalid. */
export function parsePrefix(text: string): ParsedPrefix {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const v4 = addrText.includes(':') ? undefined : parseIpv4(addrText);
  const addr = v4 !== undefined ? Buffer.allocUnsafe(4) : addressBytes(addrText);
  if (addr === undefined) throw new RangeError(`invalid prefix '${text}'`);
  const max = addr.length * 8;
  const len = slash < 0 ? max : parsePrefixLength(text, slash + 1, text.length, max);
  if (len === undefined) throw new RangeError(`invalid prefix length in '${text}'`);
  if (v4 !== undefined) {
    // IPv4 fast path: mask as a number.
    const masked = len === 0 ? 0 : (v4 & (0xffffffff << (32 - len))) >>> 0;
    addr.writeUInt32BE(masked, 0);
    const address = ipv4ToString(masked);
    return { family: 4, addr, len, address, text: `${address}/${len}` };
  }
  for (let bit = len; bit < max; bit++) addr[bit >> 3]! &= ~(0x80 >> (bit & 7));
  const address = addressText(addr);
  return { family: 6, addr, len, address, text: `${address}/${len}` };
}

/** True when prefix `inner` lies within (or equals) prefix `outer` (BIRD's `net ~ prefix`). */
export function prefixWithin(inner: ParsedPrefix, outer: ParsedPrefix): boolean {
  if (inner.family !== outer.family || inner.len < outer.len) return false;
  return bitsEqual(inner.addr, outer.addr, outer.len);
}

/** True when address octets `addr` fall in prefix `outer`. */
export function addressWithin(addr: Buffer, outer: ParsedPrefix): boolean {
  return addr.length === outer.addr.length && bitsEqual(addr, outer.addr, outer.len);
}

function bitsEqual(a: Buffer, b: Buffer, bits: number): boolean {
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[whole]! & mask) === (b[whole]! & mask);
}

// ---------------------------------------------------------------------------
// Route messages

/** One next hop of a multipath route (`struct rtnexthop` + its attributes). */
export interface RouteNextHop {
  /** Gateway address text; absent for a device-only next hop. */
  gateway?: string;
  /** Outgoing interface index; 0 = let the kernel choose by the gateway. */
  ifindex: number;
  /** RTNH_F_* flags (RTNH_F_ONLINK). */
  flags: number;
  /** Weight - 1, as the kernel stores it. */
  hops: number;
}

/** A route message, request or reply. Optional fields are attributes, present or not. */
export interface RouteMessage {
  family: Family;
  /** Destination prefix length. */
  dstLen: number;
  /** Routing table id (u32 RTA_TABLE; the rtmsg byte holds it when < 256). */
  table: number;
  /** rtm_protocol: who installed the route (2 kernel, 3 boot, 4 static, 12 bird, ours). */
  protocol: number;
  scope: number;
  /** RTN_UNICAST, RTN_BLACKHOLE, ... */
  type: number;
  /** rtm_flags (RTNH_F_ONLINK for a single next hop). */
  flags: number;
  /** Destination address text (absent for a default route in a dump). */
  dst?: string;
  gateway?: string;
  oif?: number;
  /** Metric. */
  priority?: number;
  multipath?: RouteNextHop[];
}

function attrLen(valueLen: number): number {
  return align4(4 + valueLen);
}

function addrLen(family: Family): number {
  return familyOf(family).addressLength;
}

function multipathLength(r: RouteMessage): number {
  let n = 0;
  for (const nh of r.multipath ?? []) n += RTNH_LEN + (nh.gateway !== undefined ? attrLen(addrLen(r.family)) : 0);
  return n;
}

/** Octets `encodeRoute` writes for this message, header included. */
export function routeMessageLength(r: RouteMessage): number {
  const a = addrLen(r.family);
  let n = NLMSG_HDRLEN + RTMSG_LEN;
  if (r.dst !== undefined) n += attrLen(a);
  if (r.gateway !== undefined) n += attrLen(a);
  if (r.priority !== undefined) n += attrLen(4);
  if (r.oif !== undefined) n += attrLen(4);
  if (r.multipath !== undefined) n += 4 + multipathLength(r);
  if (r.table >= 256) n += attrLen(4);
  return n;
}

/** Fields of the netlink header a request sets. */
export interface RequestHeader {
  type: number;
  flags: number;
  seq: number;
}

function writeHeader(buf: Buffer, offset: number, len: number, h: RequestHeader): void {
  w32(buf, len, offset);
  w16(buf, h.type, offset + 4);
  w16(buf, h.flags, offset + 6);
  w32(buf, h.seq, offset + 8);
  w32(buf, 0, offset + 12); // nlmsg_pid 0: the kernel fills in our port id
}

function writeAttrHeader(buf: Buffer, at: number, type: number, valueLen: number): number {
  w16(buf, 4 + valueLen, at);
  w16(buf, type, at + 2);
  return at + 4;
}

function writeAddrAttr(buf: Buffer, at: number, type: number, family: Family, text: string): number {
  // Straight from text to the buffer: no intermediate Buffer per address (this runs per route).
  const v = writeAttrHeader(buf, at, type, addrLen(family));
  if (family === 4) {
    const n = text.includes(':') ? undefined : parseIpv4(text);
    if (n === undefined) throw new RangeError(`'${text}' is not an IPv4 address`);
    buf.writeUInt32BE(n, v);
  } else {
    const words = parseIpv6(text);
    if (words === undefined) throw new RangeError(`'${text}' is not an IPv6 address`);
    for (let i = 0; i < 4; i++) buf.writeUInt32BE(words[i]!, v + 4 * i);
  }
  return at + attrLen(addrLen(family));
}

function writeU32Attr(buf: Buffer, at: number, type: number, value: number): number {
  const v = writeAttrHeader(buf, at, type, 4);
  w32(buf, value, v);
  return at + attrLen(4);
}

/**
 * Writes one route message at `offset`; returns the offset after it.
 * Throws RangeError on an address of the wrong family.
 */
export function encodeRoute(r: RouteMessage, h: RequestHeader, buf: Buffer, offset: number): number {
  const len = routeMessageLength(r);
  buf.fill(0, offset, offset + len);
  writeHeader(buf, offset, len, h);
  let at = offset + NLMSG_HDRLEN;
  buf[at] = familyOf(r.family).netlinkFamily;
  buf[at + 1] = r.dstLen;
  buf[at + 2] = 0; // src_len
  buf[at + 3] = 0; // tos
  buf[at + 4] = r.table < 256 ? r.table : RT_TABLE_UNSPEC;
  buf[at + 5] = r.protocol;
  buf[at + 6] = r.scope;
  buf[at + 7] = r.type;
  w32(buf, r.flags, at + 8);
  at += RTMSG_LEN;
  // iproute2's attribute order, so requests compare byte for byte with `ip route`'s.
  if (r.dst !== undefined) at = writeAddrAttr(buf, at, RTA_DST, r.family, r.dst);
  if (r.gateway !== undefined) at = writeAddrAttr(buf, at, RTA_GATEWAY, r.family, r.gateway);
  if (r.priority !== undefined) at = writeU32Attr(buf, at, RTA_PRIORITY, r.priority);
  if (r.oif !== undefined) at = writeU32Attr(buf, at, RTA_OIF, r.oif);
  if (r.multipath !== undefined) {
    const mp = multipathLength(r);
    at = writeAttrHeader(buf, at, RTA_MULTIPATH, mp);
    for (const nh of r.multipath) {
      const nhLen = RTNH_LEN + (nh.gateway !== undefined ? attrLen(addrLen(r.family)) : 0);
      w16(buf, nhLen, at);
      buf[at + 2] = nh.flags;
      buf[at + 3] = nh.hops;
      w32(buf, nh.ifindex, at + 4);
      at += RTNH_LEN;
      if (nh.gateway !== undefined) at = writeAddrAttr(buf, at, RTA_GATEWAY, r.family, nh.gateway);
    }
  }
  // Tables below 256 fit in rtm_table; larger ids need the attribute.
  if (r.table >= 256) at = writeU32Attr(buf, at, RTA_TABLE, r.table);
  return at;
}

/** Where a request's RTA_DST value sits: `encodeRoute` writes RTA_DST first, right after the rtmsg. */
const DST_VALUE_AT = NLMSG_HDRLEN + RTMSG_LEN + 4;

/**
 * A route request with everything but its destination filled in. Routes
 * through the same next hops (most of a node's routes go through a few)
 * share one, and each of them is then a copy of these octets and four
 * patches: flags, sequence number, prefix length, address. The octets come
 * from `encodeRoute`, so a request written here is byte for byte the one
 * `encodeRoute` writes for the same route.
 */
export class RouteTemplate {
  private constructor(
    /** The request with a zero destination. */
    readonly bytes: Buffer,
    readonly family: Family,
  ) {}

  /** The template of `r` (its `dst` and `dstLen` are ignored) as a request of `type` (RTM_NEWROUTE, RTM_DELROUTE). */
  static of(r: RouteMessage, type: number): RouteTemplate {
    const m: RouteMessage = { ...r, dstLen: 0, dst: familyOf(r.family).anyAddress };
    const bytes = Buffer.alloc(routeMessageLength(m));
    encodeRoute(m, { type, flags: 0, seq: 0 }, bytes, 0);
    return new RouteTemplate(bytes, r.family);
  }

  /** Octets of one request. */
  get length(): number {
    return this.bytes.length;
  }

  /**
   * Writes the request for the prefix in `net` (of this template's family)
   * at `offset`; returns the offset after it. The caller checks the room.
   */
  write(buf: Buffer, offset: number, flags: number, seq: number, net: PrefixWords): number {
    const bytes = this.bytes;
    bytes.copy(buf, offset);
    setRequestFlags(buf, offset, flags);
    if (LE) {
      buf[offset + 8] = seq;
      buf[offset + 9] = seq >>> 8;
      buf[offset + 10] = seq >>> 16;
      buf[offset + 11] = seq >>> 24;
    } else {
      buf.writeUInt32BE(seq >>> 0, offset + 8);
    }
    buf[offset + NLMSG_HDRLEN + 1] = net.len;
    const at = offset + DST_VALUE_AT;
    if (this.family === 4) {
      const v = net.v4;
      buf[at] = v >>> 24;
      buf[at + 1] = v >>> 16;
      buf[at + 2] = v >>> 8;
      buf[at + 3] = v;
    } else {
      for (let w = 0; w < 4; w++) {
        const v = net.v6[w]!;
        const o = at + 4 * w;
        buf[o] = v >>> 24;
        buf[o + 1] = v >>> 16;
        buf[o + 2] = v >>> 8;
        buf[o + 3] = v;
      }
    }
    return offset + bytes.length;
  }
}

/** Sets nlmsg_flags of the request at `offset` (to ask for an ACK once the request is written, say). */
export function setRequestFlags(buf: Buffer, offset: number, flags: number): void {
  if (LE) {
    buf[offset + 6] = flags;
    buf[offset + 7] = flags >>> 8;
  } else {
    buf.writeUInt16BE(flags, offset + 6);
  }
}

/** A route dump request for one family (ends with NLMSG_DONE, so no ACK flag). */
export function encodeRouteDump(family: Family, seq: number): Buffer {
  const buf = Buffer.alloc(NLMSG_HDRLEN + RTMSG_LEN);
  writeHeader(buf, 0, buf.length, { type: RTM_GETROUTE, flags: NLM_F_REQUEST | NLM_F_DUMP, seq });
  buf[NLMSG_HDRLEN] = familyOf(family).netlinkFamily;
  return buf;
}

/** Octets of an RTM_GETLINK-by-name request. */
export function linkRequestLength(name: string): number {
  return NLMSG_HDRLEN + IFINFOMSG_LEN + attrLen(Buffer.byteLength(name) + 1);
}

/** An RTM_GETLINK request for one interface by name (with NLM_F_ACK: a reply, then an ACK or an error). */
export function encodeLinkRequest(name: string, seq: number, buf: Buffer, offset: number): number {
  const len = linkRequestLength(name);
  buf.fill(0, offset, offset + len);
  writeHeader(buf, offset, len, { type: RTM_GETLINK, flags: NLM_F_REQUEST | NLM_F_ACK, seq });
  let at = offset + NLMSG_HDRLEN + IFINFOMSG_LEN;
  const nameLen = Buffer.byteLength(name) + 1;
  at = writeAttrHeader(buf, at, IFLA_IFNAME, nameLen);
  buf.write(name, at, 'utf8');
  return offset + len;
}

// ---------------------------------------------------------------------------
// Replies

export interface ReplyHeader {
  len: number;
  type: number;
  flags: number;
  seq: number;
  pid: number;
}

/** One message of a reply stream. */
export type NetlinkReply =
  | { kind: 'route'; header: ReplyHeader; route: RouteMessage }
  | { kind: 'link'; header: ReplyHeader; index: number; name: string | undefined }
  /** NLMSG_ERROR: `error` 0 is an ACK, else a positive errno. */
  | { kind: 'ack'; header: ReplyHeader; error: number; message: string | undefined }
  | { kind: 'done'; header: ReplyHeader; error: number }
  | { kind: 'other'; header: ReplyHeader };

/** Splits a buffer of netlink messages and decodes the kinds we use. Throws NetlinkDecodeError. */
export function decodeReplies(buf: Buffer): NetlinkReply[] {
  const out: NetlinkReply[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const header: ReplyHeader = {
      len: r32(buf, off),
      type: r16(buf, off + 4),
      flags: r16(buf, off + 6),
      seq: r32(buf, off + 8),
      pid: r32(buf, off + 12),
    };
    if (header.len < NLMSG_HDRLEN || off + header.len > buf.length) throw new NetlinkDecodeError(`bad nlmsg_len ${header.len}`, off);
    const body = off + NLMSG_HDRLEN;
    const end = off + header.len;
    out.push(decodeOne(buf, header, body, end));
    off += align4(header.len);
  }
  if (off < buf.length && buf.length - off >= 4) throw new NetlinkDecodeError('trailing octets after the last message', off);
  return out;
}

function decodeOne(buf: Buffer, header: ReplyHeader, body: number, end: number): NetlinkReply {
  switch (header.type) {
    case NLMSG_ERROR: {
      if (end - body < 4) throw new NetlinkDecodeError('short NLMSG_ERROR', body);
      const error = -ri32(buf, body);
      let message: string | undefined;
      if (header.flags & NLM_F_ACK_TLVS && end - body >= 4 + NLMSG_HDRLEN) {
        // The request follows: its header only when capped, else all of it.
        const reqLen = header.flags & NLM_F_CAPPED ? NLMSG_HDRLEN : r32(buf, body + 4);
        const tlvs = body + 4 + align4(reqLen);
        for (const a of attributes(buf, tlvs, end)) {
          if (a.type === NLMSGERR_ATTR_MSG) message = buf.toString('utf8', a.value, a.end).replace(/\0+$/, '');
        }
      }
      return { kind: 'ack', header, error, message };
    }
    case NLMSG_DONE:
      return { kind: 'done', header, error: end - body >= 4 ? -ri32(buf, body) : 0 };
    case RTM_NEWROUTE:
    case RTM_DELROUTE:
      // Other families (MPLS, multicast) share the message type; we never program them.
      if (end - body >= 1 && buf[body] !== AF_INET && buf[body] !== AF_INET6) return { kind: 'other', header };
      return { kind: 'route', header, route: decodeRoute(buf, body, end) };
    case RTM_NEWLINK: {
      if (end - body < IFINFOMSG_LEN) throw new NetlinkDecodeError('short ifinfomsg', body);
      let name: string | undefined;
      for (const a of attributes(buf, body + IFINFOMSG_LEN, end)) {
        if (a.type === IFLA_IFNAME) name = buf.toString('utf8', a.value, a.end).replace(/\0+$/, '');
      }
      return { kind: 'link', header, index: ri32(buf, body + 4), name };
    }
    default:
      return { kind: 'other', header };
  }
}

/** What `scanAcks` found: per request, its errno (0 = done, -1 = no reply), and the kernel's text for errors. */
export interface AckScan {
  errors: Int32Array;
  messages: Map<number, string>;
}

/**
 * The ACK/error of each request numbered firstSeq .. firstSeq+count-1, read
 * straight from a reply buffer without building an object per message:
 * a batch of thousands of routes gets as many ACKs. Anything else in the
 * buffer is skipped. Throws NetlinkDecodeError on a torn message.
 */
export function scanAcks(buf: Buffer, firstSeq: number, count: number): AckScan {
  const errors = new Int32Array(count).fill(-1);
  const messages = new Map<number, string>();
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = r32(buf, off);
    if (len < NLMSG_HDRLEN || off + len > buf.length) throw new NetlinkDecodeError(`bad nlmsg_len ${len}`, off);
    const i = r32(buf, off + 8) - firstSeq;
    if (r16(buf, off + 4) === NLMSG_ERROR && i >= 0 && i < count) {
      if (len < NLMSG_HDRLEN + 4) throw new NetlinkDecodeError('short NLMSG_ERROR', off);
      const error = -ri32(buf, off + NLMSG_HDRLEN);
      errors[i] = error;
      if (error !== 0) {
        const m = decodeOne(buf, { len, type: NLMSG_ERROR, flags: r16(buf, off + 6), seq: firstSeq + i, pid: r32(buf, off + 12) }, off + NLMSG_HDRLEN, off + len);
        if (m.kind === 'ack' && m.message !== undefined) messages.set(i, m.message);
      }
    }
    off += align4(len);
  }
  return { errors, messages };
}

interface Attr {
  type: number;
  value: number;
  end: number;
}

function* attributes(buf: Buffer, from: number, to: number): Generator<Attr> {
  let at = from;
  while (at + 4 <= to) {
    const len = r16(buf, at);
    const type = r16(buf, at + 2) & 0x3fff; // drop NLA_F_NESTED / NLA_F_NET_BYTEORDER
    if (len < 4 || at + len > to) throw new NetlinkDecodeError(`bad attribute length ${len}`, at);
    yield { type, value: at + 4, end: at + len };
    at += align4(len);
  }
}

function addrAttr(buf: Buffer, a: Attr, family: Family): string {
  const n = a.end - a.value;
  if (n !== addrLen(family)) throw new NetlinkDecodeError(`address attribute of ${n} octets for IPv${family}`, a.value);
  return addressText(buf, a.value, n);
}

function u32Attr(buf: Buffer, a: Attr): number {
  if (a.end - a.value < 4) throw new NetlinkDecodeError('short u32 attribute', a.value);
  return r32(buf, a.value);
}

/** Decodes the rtmsg and attributes of a route message between `body` and `end`. */
export function decodeRoute(buf: Buffer, body: number, end: number): RouteMessage {
  if (end - body < RTMSG_LEN) throw new NetlinkDecodeError('short rtmsg', body);
  const af = buf[body]!;
  if (af !== AF_INET && af !== AF_INET6) throw new NetlinkDecodeError(`route of address family ${af}`, body);
  const family: Family = af === AF_INET ? 4 : 6;
  const r: RouteMessage = {
    family,
    dstLen: buf[body + 1]!,
    table: buf[body + 4]!,
    protocol: buf[body + 5]!,
    scope: buf[body + 6]!,
    type: buf[body + 7]!,
    flags: r32(buf, body + 8),
  };
  for (const a of attributes(buf, body + RTMSG_LEN, end)) {
    switch (a.type) {
      case RTA_DST:
        r.dst = addrAttr(buf, a, family);
        break;
      case RTA_GATEWAY:
        r.gateway = addrAttr(buf, a, family);
        break;
      case RTA_OIF:
        r.oif = u32Attr(buf, a);
        break;
      case RTA_PRIORITY:
        r.priority = u32Attr(buf, a);
        break;
      case RTA_TABLE:
        r.table = u32Attr(buf, a);
        break;
      case RTA_MULTIPATH:
        r.multipath = decodeMultipath(buf, a.value, a.end, family);
        break;
      default:
        break;
    }
  }
  return r;
}

function decodeMultipath(buf: Buffer, from: number, to: number, family: Family): RouteNextHop[] {
  const hops: RouteNextHop[] = [];
  let at = from;
  while (at + RTNH_LEN <= to) {
    const len = r16(buf, at);
    if (len < RTNH_LEN || at + len > to) throw new NetlinkDecodeError(`bad rtnexthop length ${len}`, at);
    const nh: RouteNextHop = { ifindex: ri32(buf, at + 4), flags: buf[at + 2]!, hops: buf[at + 3]! };
    for (const a of attributes(buf, at + RTNH_LEN, at + len)) {
      if (a.type === RTA_GATEWAY) nh.gateway = addrAttr(buf, a, family);
    }
    hops.push(nh);
    at += align4(len);
  }
  return hops;
}
