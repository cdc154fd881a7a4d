/**
 * MP_REACH_NLRI and MP_UNREACH_NLRI (RFC 4760 sections 3 and 4):
 *
 *   MP_REACH_NLRI                         MP_UNREACH_NLRI
 *   +-----------------------------------+ +-----------------------------------+
 *   | AFI (2) | SAFI (1)                | | AFI (2) | SAFI (1)                |
 *   | Length of Next Hop Address (1)    | | Withdrawn Routes (variable)       |
 *   | Next Hop Address (variable)       | +-----------------------------------+
 *   | Reserved (1)                      |
 *   | NLRI (variable)                   |
 *   +-----------------------------------+
 *
 * Only IPv4 and IPv6 unicast are decoded; other families are kept as unknown
 * attributes so they can be logged, never propagated (the attributes are
 * non-transitive).
 *
 * Next hop lengths: 4 (IPv4), 16 (IPv6 global) or 32 (IPv6 global + link
 * local, RFC 2545). IPv4 NLRI may have a 16/32-octet IPv6 next hop (RFC 8950).
 */
import { Afi, Safi, type AfiCode } from '../iana.js';
import { type CodecContext, afiSafiKey } from '../context.js';
import { ipv4ToString, ipv6BytesToString, writeIpv4, writeIpv6 } from '../../../net/ip.js';
import { decodePrefixes, prefixesWireSize, writePrefixes } from '../nlri.js';
import { AttrMalformed } from './malformed.js';
import type { AttrDecodeState } from './registry.js';
import type { MpReach, MpUnreach } from './types.js';

function supported(afi: number, safi: number): afi is AfiCode {
  return (afi === Afi.IPV4 || afi === Afi.IPV6) && safi === Safi.UNICAST;
}

function nlriError(reason: string): never {
  throw new AttrMalformed(`NLRI: ${reason}`);
}

/** Returns false when the family is not one we decode (the caller keeps the attribute raw). */
export function decodeMpReach(buf: Buffer, start: number, end: number, st: AttrDecodeState): boolean {
  if (end - start < 5) throw new AttrMalformed(`length ${end - start} is shorter than the fixed fields`, true);
  const afi = buf.readUInt16BE(start);
  const safi = buf[start + 2]!;
  if (!supported(afi, safi)) return false;
  const nhLen = buf[start + 3]!;
  const nhStart = start + 4;
  // Next hop + the reserved octet must fit.
  if (nhStart + nhLen + 1 > end) throw new AttrMalformed(`next hop length ${nhLen} overruns the attribute`);
  const nextHops: string[] = [];
  if (nhLen === 4 && afi === Afi.IPV4) {
    nextHops.push(ipv4ToString(buf.readUInt32BE(nhStart)));
  } else if (nhLen === 16 || nhLen === 32) {
    nextHops.push(ipv6BytesToString(buf, nhStart));
    if (nhLen === 32) nextHops.push(ipv6BytesToString(buf, nhStart + 16));
  } else {
    // RFC 7606 section 7.11: an unexpected next hop length makes the NLRI
    // impossible to locate reliably.
    throw new AttrMalformed(`next hop length ${nhLen} is not valid for AFI ${afi}`);
  }
  const nlriStart = nhStart + nhLen + 1; // skip Reserved
  const nlri = decodePrefixes(buf, nlriStart, end, afi, st.ctx.addPath.has(afiSafiKey(afi, safi)), nlriError);
  st.attrs.mpReach = { afi, safi, nextHops, nlri };
  return true;
}

export function decodeMpUnreach(buf: Buffer, start: number, end: number, st: AttrDecodeState): boolean {
  if (end - start < 3) throw new AttrMalformed(`length ${end - start} is shorter than the fixed fields`, true);
  const afi = buf.readUInt16BE(start);
  const safi = buf[start + 2]!;
  if (!supported(afi, safi)) return false;
  const withdrawn = decodePrefixes(buf, start + 3, end, afi, st.ctx.addPath.has(afiSafiKey(afi, safi)), nlriError);
  st.attrs.mpUnreach = { afi, safi, withdrawn };
  return true;
}

function nextHopBytes(nextHops: readonly string[]): number {
  let n = 0;
  for (const nh of nextHops) n += nh.includes(':') ? 16 : 4;
  return n;
}

export function mpReachLength(mp: MpReach, ctx: CodecContext): number {
  const addPath = ctx.addPath.has(afiSafiKey(mp.afi, mp.safi));
  return 5 + nextHopBytes(mp.nextHops) + prefixesWireSize(mp.nlri, 0, mp.nlri.count, addPath);
}

/** Writes the fixed part (AFI, SAFI, next hop, reserved) of MP_REACH_NLRI; returns the next offset. */
export function writeMpReachHead(mp: Pick<MpReach, 'afi' | 'safi' | 'nextHops'>, buf: Buffer, offset: number): number {
  buf.writeUInt16BE(mp.afi, offset);
  buf[offset + 2] = mp.safi;
  buf[offset + 3] = nextHopBytes(mp.nextHops);
  let o = offset + 4;
  for (const nh of mp.nextHops) o = nh.includes(':') ? writeIpv6(nh, buf, o) : writeIpv4(nh, buf, o);
  buf[o] = 0; // Reserved
  return o + 1;
}

export function encodeMpReach(mp: MpReach, buf: Buffer, offset: number, ctx: CodecContext): number {
  const o = writeMpReachHead(mp, buf, offset);
  return writePrefixes(mp.nlri, 0, mp.nlri.count, buf, o, ctx.addPath.has(afiSafiKey(mp.afi, mp.safi)));
}

export function mpUnreachLength(mp: MpUnreach, ctx: CodecContext): number {
  const addPath = ctx.addPath.has(afiSafiKey(mp.afi, mp.safi));
  return 3 + prefixesWireSize(mp.withdrawn, 0, mp.withdrawn.count, addPath);
}

export function encodeMpUnreach(mp: MpUnreach, buf: Buffer, offset: number, ctx: CodecContext): number {
  buf.writeUInt16BE(mp.afi, offset);
  buf[offset + 2] = mp.safi;
  return writePrefixes(mp.withdrawn, 0, mp.withdrawn.count, buf, offset + 3, ctx.addPath.has(afiSafiKey(mp.afi, mp.safi)));
}
