/**
 * Malformed messages with the reaction the RFCs require: RFC 4271 section 6
 * errors (NOTIFICATION code/subcode/data), and RFC 7606 section 7 attribute
 * errors (session-reset, treat-as-withdraw, attribute-discard).
 */
import { makeContext, type CodecContext } from '../../../src/bgp/packet/index.js';
import { ORIGIN_IGP, asPath2, asPath4, attr, bytes, cap, ip4, msg, msgWithLength, nextHop, open, u16, u32, update } from './bytes.js';

export type Expect =
  /** The message cannot be decoded: this NOTIFICATION is due. */
  | { notification: [code: number, subcode: number]; data?: string }
  /** RFC 7606 verdicts for UPDATEs that do decode. */
  | { verdict: 'session-reset'; notification: [number, number] }
  | { verdict: 'treat-as-withdraw'; withdraw: string[]; rfc4271: [number, number] }
  | { verdict: 'attribute-discard'; absent: string };

export interface MalformedCase {
  name: string;
  bytes: Buffer;
  ctx?: CodecContext;
  expect: Expect;
}

const NLRI = [24, 198, 51, 100];
const GOOD = [ORIGIN_IGP, asPath4(65001), nextHop('192.0.2.1')];
/** The same for a 2-octet AS session. */
const GOOD2 = [ORIGIN_IGP, asPath2(65001), nextHop('192.0.2.1')];
const ibgp = makeContext({ peerType: 'internal' });
const ebgp = makeContext({ peerType: 'external' });
const twoOctet = makeContext({ fourOctetAs: false });

/** An UPDATE announcing 198.51.100.0/24 with GOOD attributes, `replace`d at index i by `bad` (or extra appended). */
function withAttr(bad: Buffer, replace?: number, base: Buffer[] = GOOD): Buffer {
  const attrs = [...base];
  if (replace === undefined) attrs.push(bad);
  else attrs[replace] = bad;
  return update([], attrs, NLRI);
}

const TAW = (rfc4271: [number, number]): Expect => ({ verdict: 'treat-as-withdraw', withdraw: ['198.51.100.0/24'], rfc4271 });

export const malformedCases: MalformedCase[] = [
  // --- RFC 4271 section 6.1: message header --------------------------------
  { name: 'a marker that is not all ones is Connection Not Synchronized', bytes: bytes(Array(15).fill(0xff), [0xfe], u16(19), [4]), expect: { notification: [1, 1] } },
  { name: 'a length below 19 is Bad Message Length with the length as data', bytes: msgWithLength(4, 18), expect: { notification: [1, 2], data: '0012' } },
  { name: 'a length above 4096 is Bad Message Length', bytes: msgWithLength(2, 4097, Buffer.alloc(4078)), expect: { notification: [1, 2], data: '1001' } },
  { name: 'an unknown message type is Bad Message Type with the type as data', bytes: msg(6), expect: { notification: [1, 3], data: '06' } },
  { name: 'a KEEPALIVE longer than 19 is Bad Message Length', bytes: msg(4, [0]), expect: { notification: [1, 2], data: '0014' } },
  { name: 'an OPEN shorter than 29 is Bad Message Length', bytes: msg(1, [4], u16(1), u16(90), ip4('192.0.2.1')), expect: { notification: [1, 2] } },
  { name: 'an UPDATE shorter than 23 is Bad Message Length', bytes: msg(2, [0, 0, 0]), expect: { notification: [1, 2] } },
  { name: 'a NOTIFICATION shorter than 21 is Bad Message Length', bytes: msg(3, [6]), expect: { notification: [1, 2] } },
  { name: 'a ROUTE-REFRESH of the wrong length is ROUTE-REFRESH Invalid Message Length (RFC 7313)', bytes: msg(5, u16(1), [0, 1, 0]), expect: { notification: [7, 1] } },

  // --- RFC 4271 section 6.2: OPEN ------------------------------------------
  { name: 'OPEN version 3 is Unsupported Version Number with version 4 as data', bytes: open(65001, 90, '192.0.2.1', [], 3), expect: { notification: [2, 1], data: '0004' } },
  { name: 'OPEN from AS 0 is Bad Peer AS (RFC 7607)', bytes: open(0, 90, '192.0.2.1'), expect: { notification: [2, 2] } },
  { name: 'OPEN with BGP identifier 0.0.0.0 is Bad BGP Identifier', bytes: open(65001, 90, '0.0.0.0'), expect: { notification: [2, 3] } },
  { name: 'OPEN with hold time 1 is Unacceptable Hold Time', bytes: open(65001, 1, '192.0.2.1'), expect: { notification: [2, 6] } },
  { name: 'OPEN with hold time 2 is Unacceptable Hold Time', bytes: open(65001, 2, '192.0.2.1'), expect: { notification: [2, 6] } },
  {
    name: 'OPEN with an unknown optional parameter type is Unsupported Optional Parameter',
    bytes: msg(1, [4], u16(65001), u16(90), ip4('192.0.2.1'), [3], [1, 1, 0]),
    expect: { notification: [2, 4] },
  },
  {
    name: 'OPEN whose optional parameters length disagrees with the message is malformed',
    bytes: msg(1, [4], u16(65001), u16(90), ip4('192.0.2.1'), [6], [2, 2], cap(2)),
    expect: { notification: [2, 0] },
  },
  {
    name: 'OPEN with a capability overrunning its parameter is malformed',
    bytes: msg(1, [4], u16(65001), u16(90), ip4('192.0.2.1'), [4], [2, 2], [65, 4]),
    expect: { notification: [2, 0] },
  },
  {
    name: 'OPEN with a multiprotocol capability of the wrong length is malformed',
    bytes: open(65001, 90, '192.0.2.1', [cap(1, u16(1), [0])]),
    expect: { notification: [2, 0] },
  },

  // --- RFC 4271 section 6.3 / RFC 7606: UPDATE framing -----------------------
  {
    name: 'withdrawn routes length past the message is Malformed Attribute List',
    bytes: msg(2, u16(40), [24, 10, 0, 0], u16(0)),
    expect: { notification: [3, 1] },
  },
  {
    name: 'total path attribute length past the message is Malformed Attribute List',
    bytes: msg(2, u16(0), u16(200), ORIGIN_IGP),
    expect: { notification: [3, 1] },
  },
  { name: 'a withdrawn prefix longer than 32 bits is Invalid Network Field', bytes: update([33, 1, 2, 3, 4, 5], [], []), expect: { notification: [3, 10] } },
  { name: 'a truncated NLRI prefix is Invalid Network Field (RFC 7606 section 5.3)', bytes: update([], GOOD, [24, 198, 51]), expect: { notification: [3, 10] } },

  // --- RFC 7606 section 7: per attribute -------------------------------------
  { name: 'ORIGIN with an undefined value is treat-as-withdraw', bytes: withAttr(attr(0x40, 1, [3]), 0), expect: TAW([3, 6]) },
  { name: 'ORIGIN of length 2 is treat-as-withdraw', bytes: withAttr(attr(0x40, 1, [0, 0]), 0), expect: TAW([3, 5]) },
  { name: 'ORIGIN flagged optional is an attribute flags error, treat-as-withdraw', bytes: withAttr(attr(0xc0, 1, [0]), 0), expect: TAW([3, 4]) },
  { name: 'well-known attribute with the Partial bit is an attribute flags error', bytes: withAttr(attr(0x60, 1, [0]), 0), expect: TAW([3, 4]) },
  { name: 'AS_PATH with an unknown segment type is treat-as-withdraw', bytes: withAttr(attr(0x40, 2, [5, 1], u32(65001)), 1), expect: TAW([3, 11]) },
  { name: 'AS_PATH with a segment overrun is treat-as-withdraw', bytes: withAttr(attr(0x40, 2, [2, 3], u32(65001)), 1), expect: TAW([3, 11]) },
  { name: 'AS_PATH with a zero-length segment is treat-as-withdraw', bytes: withAttr(attr(0x40, 2, [2, 0]), 1), expect: TAW([3, 11]) },
  { name: 'AS_PATH from a 2-octet speaker with an odd length is treat-as-withdraw', ctx: twoOctet, bytes: withAttr(attr(0x40, 2, [2, 1], [0xfd]), 1), expect: TAW([3, 11]) },
  { name: 'NEXT_HOP of length 5 is treat-as-withdraw', bytes: withAttr(attr(0x40, 3, ip4('192.0.2.1'), [0]), 2), expect: TAW([3, 5]) },
  { name: 'NEXT_HOP 0.0.0.0 is treat-as-withdraw', bytes: withAttr(nextHop('0.0.0.0'), 2), expect: TAW([3, 8]) },
  { name: 'NEXT_HOP in multicast space is treat-as-withdraw', bytes: withAttr(nextHop('224.0.0.5'), 2), expect: TAW([3, 8]) },
  { name: 'MULTI_EXIT_DISC of length 3 is treat-as-withdraw', bytes: withAttr(attr(0x80, 4, [0, 0, 1])), expect: TAW([3, 5]) },
  { name: 'LOCAL_PREF of length 2 is treat-as-withdraw', bytes: withAttr(attr(0x40, 5, [0, 100])), expect: TAW([3, 5]) },
  { name: 'ATOMIC_AGGREGATE of length 1 is attribute-discard', bytes: withAttr(attr(0x40, 6, [0])), expect: { verdict: 'attribute-discard', absent: 'atomicAggregate' } },
  { name: 'AGGREGATOR of length 7 is attribute-discard', bytes: withAttr(attr(0xc0, 7, u16(1), ip4('192.0.2.1'), [0])), expect: { verdict: 'attribute-discard', absent: 'aggregator' } },
  { name: 'COMMUNITIES of length 5 is treat-as-withdraw', bytes: withAttr(attr(0xc0, 8, u32(1), [0])), expect: TAW([3, 5]) },
  { name: 'COMMUNITIES of length 0 is treat-as-withdraw', bytes: withAttr(attr(0xc0, 8)), expect: TAW([3, 5]) },
  { name: 'ORIGINATOR_ID of length 3 is treat-as-withdraw', bytes: withAttr(attr(0x80, 9, [192, 0, 2])), expect: TAW([3, 5]) },
  { name: 'CLUSTER_LIST of length 6 is treat-as-withdraw', bytes: withAttr(attr(0x80, 10, ip4('192.0.2.1'), [0, 0])), expect: TAW([3, 5]) },
  { name: 'EXTENDED_COMMUNITIES of length 7 is treat-as-withdraw', bytes: withAttr(attr(0xc0, 16, Array(7).fill(1))), expect: TAW([3, 5]) },
  { name: 'LARGE_COMMUNITIES of length 13 is treat-as-withdraw (RFC 8092)', bytes: withAttr(attr(0xc0, 32, Array(13).fill(1))), expect: TAW([3, 5]) },
  { name: 'AS4_PATH that is malformed is attribute-discard', ctx: twoOctet, bytes: withAttr(attr(0xc0, 17, [2, 2], u32(4200000000)), undefined, GOOD2), expect: { verdict: 'attribute-discard', absent: '' } },
  { name: 'AS4_AGGREGATOR of length 6 is attribute-discard', ctx: twoOctet, bytes: withAttr(attr(0xc0, 18, u16(1), ip4('192.0.2.1')), undefined, GOOD2), expect: { verdict: 'attribute-discard', absent: 'aggregator' } },
  {
    name: 'MP_REACH_NLRI with an impossible next hop length is session-reset',
    bytes: update([], [attr(0x80, 14, u16(2), [1, 5], [1, 2, 3, 4, 5], [0]), ORIGIN_IGP, asPath4()], []),
    expect: { verdict: 'session-reset', notification: [3, 9] },
  },
  {
    name: 'MP_REACH_NLRI with an IPv6 prefix longer than 128 is session-reset',
    bytes: update([], [attr(0x80, 14, u16(2), [1, 16], Array(16).fill(0x20), [0], [129], Array(17).fill(0)), ORIGIN_IGP, asPath4()], []),
    expect: { verdict: 'session-reset', notification: [3, 9] },
  },
  {
    name: 'MP_REACH_NLRI with truncated NLRI is session-reset',
    bytes: update([], [attr(0x80, 14, u16(2), [1, 16], Array(16).fill(0x20), [0], [64, 0x20, 0x01]), ORIGIN_IGP, asPath4()], []),
    expect: { verdict: 'session-reset', notification: [3, 9] },
  },
  {
    name: 'MP_UNREACH_NLRI shorter than AFI and SAFI is session-reset',
    bytes: update([], [attr(0x80, 15, u16(2))], []),
    expect: { verdict: 'session-reset', notification: [3, 5] },
  },
  {
    name: 'a repeated MP_REACH_NLRI is Malformed Attribute List',
    bytes: update([], [attr(0x80, 14, u16(2), [1, 16], Array(16).fill(0x20), [0]), attr(0x80, 14, u16(2), [1, 16], Array(16).fill(0x20), [0]), ORIGIN_IGP, asPath4()], []),
    expect: { verdict: 'session-reset', notification: [3, 1] },
  },
  { name: 'a repeated ORIGIN keeps the first and discards the rest', bytes: update([], [...GOOD, attr(0x40, 1, [2])], NLRI), expect: { verdict: 'attribute-discard', absent: '' } },
  { name: 'a missing ORIGIN is treat-as-withdraw (Missing Well-known Attribute)', bytes: update([], [asPath4(65001), nextHop('192.0.2.1')], NLRI), expect: TAW([3, 3]) },
  { name: 'a missing AS_PATH is treat-as-withdraw', bytes: update([], [ORIGIN_IGP, nextHop('192.0.2.1')], NLRI), expect: TAW([3, 3]) },
  { name: 'a missing NEXT_HOP with IPv4 NLRI is treat-as-withdraw', bytes: update([], [ORIGIN_IGP, asPath4(65001)], NLRI), expect: TAW([3, 3]) },
  { name: 'a missing LOCAL_PREF from an internal peer is treat-as-withdraw', ctx: ibgp, bytes: update([], GOOD, NLRI), expect: TAW([3, 3]) },
  { name: 'LOCAL_PREF from an external peer is discarded', ctx: ebgp, bytes: withAttr(attr(0x40, 5, u32(100))), expect: { verdict: 'attribute-discard', absent: 'localPref' } },
  {
    name: 'an unrecognized well-known attribute is Unrecognized Well-known Attribute',
    bytes: withAttr(attr(0x40, 99, [1])),
    expect: { verdict: 'session-reset', notification: [3, 2] },
  },
  {
    name: 'an attribute running past the attribute list is treat-as-withdraw (RFC 7606 section 4)',
    bytes: msg(2, u16(0), u16(ORIGIN_IGP.length + 3), ORIGIN_IGP, [0x40, 2, 9], NLRI),
    expect: TAW([3, 5]),
  },
  {
    name: 'trailing octets too short for an attribute header are treat-as-withdraw',
    bytes: msg(2, u16(0), u16(ORIGIN_IGP.length + 2), ORIGIN_IGP, [0x40, 2], NLRI),
    expect: TAW([3, 1]),
  },
  {
    name: 'treat-as-withdraw withdraws IPv4 NLRI, withdrawn routes and MP_REACH NLRI together',
    bytes: update([16, 10, 9], [attr(0x40, 1, [7]), asPath4(65001), nextHop('192.0.2.1'), attr(0x80, 14, u16(2), [1, 16], Array(16).fill(0x20), [0], [16, 0x20, 0x01])], NLRI),
    expect: { verdict: 'treat-as-withdraw', withdraw: ['10.9.0.0/16', '198.51.100.0/24', '2001::/16'], rfc4271: [3, 6] },
  },
];
