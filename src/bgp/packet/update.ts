/**
 * UPDATE (RFC 4271 section 4.3), after the header:
 *
 *   +-----------------------------------------------------+
 *   |   Withdrawn Routes Length (2 octets)                |
 *   +-----------------------------------------------------+
 *   |   Withdrawn Routes (variable)                       |
 *   +-----------------------------------------------------+
 *   |   Total Path Attribute Length (2 octets)            |
 *   +-----------------------------------------------------+
 *   |   Path Attributes (variable)                        |
 *   +-----------------------------------------------------+
 *   |   Network Layer Reachability Information (variable) |
 *   +-----------------------------------------------------+
 *
 * Also the packers: many prefixes sharing one attribute set go into as few
 * UPDATEs as the negotiated maximum message size allows.
 */
import { Afi, AttrFlag, AttrType, HEADER_LENGTH, MsgType, Safi, type AfiCode } from './iana.js';
import { type CodecContext, afiSafiKey } from './context.js';
import { fail } from './errors.js';
import { writeHeader } from './header.js';
import { decodePrefixes, fitPrefixes, prefixesWireSize, writePrefixes } from './nlri.js';
import { PrefixList } from './prefix.js';
import { type AttrIssue, type PathAttributes, attributesLength, decodeAttributes, encodeAttributes } from './attributes/index.js';
import { writeMpReachHead } from './attributes/mp.js';

export interface UpdateMessage {
  type: 'UPDATE';
  /** IPv4 unicast withdrawals in the Withdrawn Routes field. */
  withdrawn: PrefixList;
  attributes: PathAttributes;
  /** IPv4 unicast NLRI in the NLRI field. */
  nlri: PrefixList;
}

/** An UPDATE as parsed, with the attribute problems found (see `validateUpdate`). */
export interface DecodedUpdate extends UpdateMessage {
  issues: AttrIssue[];
}

const v4AddPath = (ctx: CodecContext): boolean => ctx.addPath.has(afiSafiKey(Afi.IPV4, Safi.UNICAST));

/** Decodes an UPDATE body buf[start, end). */
export function decodeUpdate(buf: Buffer, start: number, end: number, ctx: CodecContext): DecodedUpdate {
  // "If the Withdrawn Routes Length or Total Attribute Length is too large
  //  (i.e., if Withdrawn Routes Length + Total Attribute Length + 23 exceeds
  //  the message Length), then the Error Subcode MUST be set to Malformed
  //  Attribute List."
  if (end - start < 4) fail({ kind: 'badMessageLength', length: end - start + HEADER_LENGTH });
  const withdrawnLen = buf.readUInt16BE(start);
  const wStart = start + 2;
  const wEnd = wStart + withdrawnLen;
  if (wEnd + 2 > end) fail({ kind: 'malformedAttributeList', reason: `withdrawn routes length ${withdrawnLen} overruns the message` });
  const attrLen = buf.readUInt16BE(wEnd);
  const aStart = wEnd + 2;
  const aEnd = aStart + attrLen;
  if (aEnd > end) fail({ kind: 'malformedAttributeList', reason: `total path attribute length ${attrLen} overruns the message` });

  // RFC 7606 section 5.3: an NLRI field that cannot be parsed leaves no
  // way to know what to withdraw, so the session is reset.
  const networkError = (reason: string): never => fail({ kind: 'invalidNetworkField', reason });
  const addPath = v4AddPath(ctx);
  const withdrawn = decodePrefixes(buf, wStart, wEnd, Afi.IPV4, addPath, networkError);
  const { attrs, issues } = attrLen === 0 ? { attrs: {}, issues: [] } : decodeAttributes(buf, aStart, aEnd, ctx);
  const nlri = decodePrefixes(buf, aEnd, end, Afi.IPV4, addPath, networkError);
  return { type: 'UPDATE', withdrawn, attributes: attrs, nlri, issues };
}

/** Body length of an UPDATE. */
export function updateBodyLength(msg: UpdateMessage, ctx: CodecContext): number {
  const addPath = v4AddPath(ctx);
  return (
    4 +
    prefixesWireSize(msg.withdrawn, 0, msg.withdrawn.count, addPath) +
    attributesLength(msg.attributes, ctx) +
    prefixesWireSize(msg.nlri, 0, msg.nlri.count, addPath)
  );
}

/** Writes an UPDATE body at offset; returns the next offset. */
export function encodeUpdate(msg: UpdateMessage, buf: Buffer, offset: number, ctx: CodecContext): number {
  const addPath = v4AddPath(ctx);
  let o = writePrefixes(msg.withdrawn, 0, msg.withdrawn.count, buf, offset + 2, addPath);
  buf.writeUInt16BE(o - offset - 2, offset);
  const attrStart = o + 2;
  o = encodeAttributes(msg.attributes, buf, attrStart, ctx);
  buf.writeUInt16BE(o - attrStart, attrStart - 2);
  return writePrefixes(msg.nlri, 0, msg.nlri.count, buf, o, addPath);
}

// ---------------------------------------------------------------------------
// End-of-RIB (RFC 4724 section 2)
// ---------------------------------------------------------------------------

/** The End-of-RIB marker for a family, as an UpdateMessage. */
export function endOfRib(afi: AfiCode, safi: number = Safi.UNICAST): UpdateMessage {
  const empty = PrefixList.empty(Afi.IPV4);
  if (afi === Afi.IPV4 && safi === Safi.UNICAST) return { type: 'UPDATE', withdrawn: empty, attributes: {}, nlri: empty };
  return { type: 'UPDATE', withdrawn: empty, attributes: { mpUnreach: { afi, safi, withdrawn: PrefixList.empty(afi) } }, nlri: empty };
}

/**
 * The family an End-of-RIB marker stands for, or undefined. IPv4 unicast: an
 * UPDATE with nothing in it. Others: an UPDATE whose only attribute is an
 * empty MP_UNREACH_NLRI.
 */
export function endOfRibFamily(msg: UpdateMessage): { afi: number; safi: number } | undefined {
  if (msg.withdrawn.count !== 0 || msg.nlri.count !== 0) return undefined;
  const a = msg.attributes;
  const keys = Object.keys(a).filter((k) => a[k as keyof PathAttributes] !== undefined);
  if (keys.length === 0) return { afi: Afi.IPV4, safi: Safi.UNICAST };
  if (keys.length === 1 && a.mpUnreach !== undefined && a.mpUnreach.withdrawn.count === 0) {
    return { afi: a.mpUnreach.afi, safi: a.mpUnreach.safi };
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// Packing
// ---------------------------------------------------------------------------

/** Octets of UPDATE overhead before any attribute: header + two length fields. */
const UPDATE_FIXED = HEADER_LENGTH + 4;
/** MP_REACH/MP_UNREACH are always written with a 2-octet length by the packers. */
const MP_ATTR_HEADER = 4;

/**
 * Encodes `nlri` with one attribute set into as few UPDATEs as fit in
 * `ctx.maxMessageLength`. IPv4 prefixes go in the NLRI field unless
 * `mpNextHops` is given; IPv6 prefixes always go in MP_REACH_NLRI with
 * `mpNextHops` (global, optionally followed by link-local). `attrs` must not
 * contain MP_REACH_NLRI/MP_UNREACH_NLRI.
 */
export function packUpdates(nlri: PrefixList, attrs: PathAttributes, ctx: CodecContext, mpNextHops?: readonly string[]): Buffer[] {
  if (attrs.mpReach !== undefined || attrs.mpUnreach !== undefined) {
    throw new RangeError('packUpdates builds MP attributes itself; pass them out of attrs');
  }
  const useMp = nlri.afi !== Afi.IPV4 || mpNextHops !== undefined;
  if (useMp && (mpNextHops === undefined || mpNextHops.length === 0)) throw new RangeError('IPv6 NLRI need MP next hops');
  const addPath = ctx.addPath.has(afiSafiKey(nlri.afi, Safi.UNICAST));
  const attrLen = attributesLength(attrs, ctx);
  const attrBlock = Buffer.allocUnsafe(attrLen);
  encodeAttributes(attrs, attrBlock, 0, ctx);
  const mpHeadLen = useMp ? MP_ATTR_HEADER + 5 + mpNextHops!.reduce((n, nh) => n + (nh.includes(':') ? 16 : 4), 0) : 0;
  const budget = ctx.maxMessageLength - UPDATE_FIXED - attrLen - mpHeadLen;
  const out: Buffer[] = [];
  let from = 0;
  while (from < nlri.count) {
    const to = fitPrefixes(nlri, from, budget, addPath);
    if (to === from) {
      throw new RangeError(`attributes (${attrLen} octets) leave no room for NLRI in a ${ctx.maxMessageLength}-octet message`);
    }
    const nlriLen = prefixesWireSize(nlri, from, to, addPath);
    const total = UPDATE_FIXED + attrLen + mpHeadLen + nlriLen;
    const msg = Buffer.allocUnsafe(total);
    writeHeader(msg, 0, total, MsgType.UPDATE);
    msg.writeUInt16BE(0, HEADER_LENGTH); // no withdrawn routes
    let o = HEADER_LENGTH + 4;
    if (useMp) {
      msg.writeUInt16BE(attrLen + mpHeadLen + nlriLen, HEADER_LENGTH + 2);
      msg[o] = AttrFlag.OPTIONAL | AttrFlag.EXTENDED_LENGTH;
      msg[o + 1] = AttrType.MP_REACH_NLRI;
      msg.writeUInt16BE(mpHeadLen - MP_ATTR_HEADER + nlriLen, o + 2);
      o = writeMpReachHead({ afi: nlri.afi, safi: Safi.UNICAST, nextHops: [...mpNextHops!] }, msg, o + MP_ATTR_HEADER);
      o = writePrefixes(nlri, from, to, msg, o, addPath);
      attrBlock.copy(msg, o);
    } else {
      msg.writeUInt16BE(attrLen, HEADER_LENGTH + 2);
      o += attrBlock.copy(msg, o);
      writePrefixes(nlri, from, to, msg, o, addPath);
    }
    out.push(msg);
    from = to;
  }
  return out;
}

/** Encodes withdrawals of `list` into as few UPDATEs as fit. */
export function packWithdrawals(list: PrefixList, ctx: CodecContext): Buffer[] {
  const addPath = ctx.addPath.has(afiSafiKey(list.afi, Safi.UNICAST));
  const useMp = list.afi !== Afi.IPV4;
  const mpHead = useMp ? MP_ATTR_HEADER + 3 : 0;
  const budget = ctx.maxMessageLength - UPDATE_FIXED - mpHead;
  const out: Buffer[] = [];
  let from = 0;
  while (from < list.count) {
    const to = fitPrefixes(list, from, budget, addPath);
    const len = prefixesWireSize(list, from, to, addPath);
    const total = UPDATE_FIXED + mpHead + len;
    const msg = Buffer.allocUnsafe(total);
    writeHeader(msg, 0, total, MsgType.UPDATE);
    if (useMp) {
      msg.writeUInt16BE(0, HEADER_LENGTH);
      msg.writeUInt16BE(mpHead + len, HEADER_LENGTH + 2);
      let o = HEADER_LENGTH + 4;
      msg[o] = AttrFlag.OPTIONAL | AttrFlag.EXTENDED_LENGTH;
      msg[o + 1] = AttrType.MP_UNREACH_NLRI;
      msg.writeUInt16BE(3 + len, o + 2);
      msg.writeUInt16BE(list.afi, o + 4);
      msg[o + 6] = Safi.UNICAST;
      o = writePrefixes(list, from, to, msg, o + 7, addPath);
    } else {
      msg.writeUInt16BE(len, HEADER_LENGTH);
      const o = writePrefixes(list, from, to, msg, HEADER_LENGTH + 2, addPath);
      msg.writeUInt16BE(0, o);
    }
    out.push(msg);
    from = to;
  }
  return out;
}
