/**
 * (bytes, object) fixture pairs for every message type, capability and
 * attribute. `json` is the decode tool's JSON form. Unless `decodeOnly`, the
 * pair is checked both ways: bytes decode to json, and json encodes to the
 * same bytes.
 */
import { afiSafiKey, makeContext, type CodecContext } from '../../../src/bgp/packet/index.js';
import { ORIGIN_IGP, asPath4, attr, bytes, cap, ip4, msg, nextHop, open, u16, u32, update } from './bytes.js';

export interface Fixture {
  name: string;
  bytes: Buffer;
  json: Record<string, unknown>;
  ctx?: CodecContext;
  /** Only bytes -> json (our encoder lays these bytes out differently, or drops something on purpose). */
  decodeOnly?: string;
}

const twoOctet = makeContext({ fourOctetAs: false });
const addPathAll = makeContext({ addPath: new Set([afiSafiKey(1, 1), afiSafiKey(2, 1)]) });
const v6 = (t: string): Buffer => {
  // Expand a :: address to 16 bytes without the codec's parser.
  const [head, tail] = t.includes('::') ? t.split('::') : [t, undefined];
  const h = head === '' ? [] : head!.split(':');
  const tl = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - tl.length).fill('0'), ...tl];
  return Buffer.concat(groups.map((g) => Buffer.from(u16(parseInt(g, 16)))));
};

export const fixtures: Fixture[] = [
  // --- KEEPALIVE -----------------------------------------------------------
  { name: 'KEEPALIVE', bytes: msg(4), json: { type: 'KEEPALIVE' } },

  // --- OPEN ----------------------------------------------------------------
  {
    name: 'OPEN without optional parameters',
    bytes: open(65001, 90, '192.0.2.1'),
    json: { type: 'OPEN', version: 4, myAs: 65001, holdTime: 90, bgpId: '192.0.2.1', capabilities: [] },
  },
  {
    name: 'OPEN with hold time 0 (no keepalives)',
    bytes: open(65001, 0, '192.0.2.1'),
    json: { type: 'OPEN', version: 4, myAs: 65001, holdTime: 0, bgpId: '192.0.2.1', capabilities: [] },
  },
  {
    name: 'OPEN with multiprotocol IPv4 and IPv6 unicast',
    bytes: open(64512, 240, '198.51.100.7', [cap(1, u16(1), [0, 1]), cap(1, u16(2), [0, 1])]),
    json: {
      type: 'OPEN', version: 4, myAs: 64512, holdTime: 240, bgpId: '198.51.100.7',
      capabilities: [{ code: 1, afi: 1, safi: 1 }, { code: 1, afi: 2, safi: 1 }],
    },
  },
  {
    name: 'OPEN with route refresh, enhanced route refresh and extended message',
    bytes: open(64512, 90, '192.0.2.2', [cap(2), cap(70), cap(6)]),
    json: { type: 'OPEN', version: 4, myAs: 64512, holdTime: 90, bgpId: '192.0.2.2', capabilities: [{ code: 2 }, { code: 70 }, { code: 6 }] },
  },
  {
    name: 'OPEN with 4-octet AS capability and AS_TRANS',
    bytes: open(23456, 90, '192.0.2.3', [cap(65, u32(4200000001))]),
    json: { type: 'OPEN', version: 4, myAs: 23456, holdTime: 90, bgpId: '192.0.2.3', capabilities: [{ code: 65, asn: 4200000001 }] },
  },
  {
    name: 'OPEN with graceful restart (R and N bits, per-family forwarding state)',
    bytes: open(64512, 90, '192.0.2.4', [cap(64, u16(0x8000 | 0x4000 | 120), u16(1), [1, 0x80], u16(2), [1, 0x00])]),
    json: {
      type: 'OPEN', version: 4, myAs: 64512, holdTime: 90, bgpId: '192.0.2.4',
      capabilities: [{
        code: 64, restartState: true, notification: true, restartTime: 120,
        families: [{ afi: 1, safi: 1, forwardingState: true }, { afi: 2, safi: 1, forwardingState: false }],
      }],
    },
  },
  {
    name: 'OPEN with graceful restart and no families (helper only)',
    bytes: open(64512, 90, '192.0.2.4', [cap(64, u16(300))]),
    json: {
      type: 'OPEN', version: 4, myAs: 64512, holdTime: 90, bgpId: '192.0.2.4',
      capabilities: [{ code: 64, restartState: false, notification: false, restartTime: 300, families: [] }],
    },
  },
  {
    name: 'OPEN with long-lived graceful restart',
    bytes: open(64512, 90, '192.0.2.5', [cap(71, u16(1), [1, 0x80], [0x01, 0x51, 0x80], u16(2), [1, 0], [0, 0, 60])]),
    json: {
      type: 'OPEN', version: 4, myAs: 64512, holdTime: 90, bgpId: '192.0.2.5',
      capabilities: [{
        code: 71,
        families: [{ afi: 1, safi: 1, forwardingState: true, staleTime: 86400 }, { afi: 2, safi: 1, forwardingState: false, staleTime: 60 }],
      }],
    },
  },
  {
    name: 'OPEN with ADD-PATH receive, send and both',
    bytes: open(64512, 90, '192.0.2.6', [cap(69, u16(1), [1, 1], u16(2), [1, 2], u16(1), [128, 3])]),
    json: {
      type: 'OPEN', version: 4, myAs: 64512, holdTime: 90, bgpId: '192.0.2.6',
      capabilities: [{
        code: 69,
        families: [{ afi: 1, safi: 1, mode: 'receive' }, { afi: 2, safi: 1, mode: 'send' }, { afi: 1, safi: 128, mode: 'both' }],
      }],
    },
  },
  {
    name: 'OPEN with extended next hop (IPv4 NLRI over IPv6 next hops)',
    bytes: open(64512, 90, '192.0.2.7', [cap(5, u16(1), u16(1), u16(2))]),
    json: {
      type: 'OPEN', version: 4, myAs: 64512, holdTime: 90, bgpId: '192.0.2.7',
      capabilities: [{ code: 5, families: [{ afi: 1, safi: 1, nextHopAfi: 2 }] }],
    },
  },
  {
    name: 'OPEN with FQDN capability',
    bytes: open(64512, 90, '192.0.2.8', [cap(73, [5], Buffer.from('node1'), [11], Buffer.from('example.org'))]),
    json: {
      type: 'OPEN', version: 4, myAs: 64512, holdTime: 90, bgpId: '192.0.2.8',
      capabilities: [{ code: 73, hostname: 'node1', domain: 'example.org' }],
    },
  },
  {
    name: 'OPEN keeps unknown capabilities raw',
    bytes: open(64512, 90, '192.0.2.9', [cap(128), cap(250, [1, 2, 3])]),
    json: {
      type: 'OPEN', version: 4, myAs: 64512, holdTime: 90, bgpId: '192.0.2.9',
      capabilities: [{ code: 128, data: '' }, { code: 250, data: '010203' }],
    },
  },
  {
    name: 'OPEN with one capability per optional parameter (decoded like one parameter)',
    bytes: msg(1, [4], u16(64512), u16(90), ip4('192.0.2.10'), [16], [2, 6], cap(65, u32(64512)), [2, 2], cap(2), [2, 2], cap(70)),
    json: {
      type: 'OPEN', version: 4, myAs: 64512, holdTime: 90, bgpId: '192.0.2.10',
      capabilities: [{ code: 65, asn: 64512 }, { code: 2 }, { code: 70 }],
    },
    decodeOnly: 'we put all capabilities in one parameter',
  },
  {
    name: 'OPEN with RFC 9072 extended optional parameters',
    bytes: msg(1, [4], u16(64512), u16(90), ip4('192.0.2.11'), [255], [255], u16(5), [2], u16(2), cap(2)),
    json: { type: 'OPEN', version: 4, myAs: 64512, holdTime: 90, bgpId: '192.0.2.11', capabilities: [{ code: 2 }] },
    decodeOnly: 'we use the extended form only when capabilities exceed 255 octets',
  },

  // --- UPDATE --------------------------------------------------------------
  {
    name: 'UPDATE with IPv4 withdrawals only',
    bytes: update(bytes([24], ip4('198.51.100.0').slice(0, 3), [8, 10], [0]), [], []),
    json: { type: 'UPDATE', withdrawn: ['198.51.100.0/24', '10.0.0.0/8', '0.0.0.0/0'], attributes: {}, nlri: [] },
  },
  {
    name: 'UPDATE with every well-known and common optional attribute',
    bytes: update([], [
      attr(0x40, 1, [2]),
      attr(0x40, 2, [2, 2], u32(65001), u32(4200000000), [1, 2], u32(65010), u32(65011), [3, 1], u32(65100), [4, 1], u32(65101)),
      nextHop('192.0.2.1'),
      attr(0x80, 4, u32(100)),
      attr(0x40, 5, u32(200)),
      attr(0x40, 6),
      attr(0xc0, 7, u32(65001), ip4('192.0.2.254')),
      attr(0xc0, 8, u16(65001), u16(100), u32(0xffffff01)),
      attr(0x80, 9, ip4('192.0.2.99')),
      attr(0x80, 10, ip4('192.0.2.100'), ip4('192.0.2.101')),
      attr(0xc0, 16, '0002fde800000064'),
      attr(0xc0, 32, u32(65001), u32(1), u32(2)),
    ], bytes([26, 10, 1, 2, 0], [32], ip4('192.0.2.55'))),
    json: {
      type: 'UPDATE', withdrawn: [],
      attributes: {
        origin: 'incomplete',
        asPath: [
          { type: 'sequence', asns: [65001, 4200000000] },
          { type: 'set', asns: [65010, 65011] },
          { type: 'confedSequence', asns: [65100] },
          { type: 'confedSet', asns: [65101] },
        ],
        nextHop: '192.0.2.1', med: 100, localPref: 200, atomicAggregate: true,
        aggregator: { as: 65001, address: '192.0.2.254' },
        communities: ['65001:100', '65535:65281'],
        originatorId: '192.0.2.99', clusterList: ['192.0.2.100', '192.0.2.101'],
        extendedCommunities: ['0002fde800000064'],
        largeCommunities: ['65001:1:2'],
      },
      nlri: ['10.1.2.0/26', '192.0.2.55/32'],
    },
  },
  {
    name: 'UPDATE with ORIGIN EGP and an empty AS_PATH (iBGP-originated)',
    bytes: update([], [attr(0x40, 1, [1]), attr(0x40, 2), nextHop('198.51.100.1')], [16, 172, 16]),
    json: { type: 'UPDATE', withdrawn: [], attributes: { origin: 'egp', asPath: [], nextHop: '198.51.100.1' }, nlri: ['172.16.0.0/16'] },
  },
  {
    name: 'UPDATE keeps an unknown optional transitive attribute (Partial bit set on re-encode)',
    bytes: update([], [ORIGIN_IGP, asPath4(65001), nextHop('192.0.2.1'), attr(0xe0, 99, [0xde, 0xad])], [24, 192, 0, 2]),
    json: {
      type: 'UPDATE', withdrawn: [],
      attributes: { origin: 'igp', asPath: [{ type: 'sequence', asns: [65001] }], nextHop: '192.0.2.1', unknown: [{ type: 99, flags: 0xe0, data: 'dead' }] },
      nlri: ['192.0.2.0/24'],
    },
  },
  {
    name: 'UPDATE decodes an unknown optional non-transitive attribute (not re-encoded)',
    bytes: update([], [ORIGIN_IGP, asPath4(65001), nextHop('192.0.2.1'), attr(0x80, 98, [1])], [24, 192, 0, 2]),
    json: {
      type: 'UPDATE', withdrawn: [],
      attributes: { origin: 'igp', asPath: [{ type: 'sequence', asns: [65001] }], nextHop: '192.0.2.1', unknown: [{ type: 98, flags: 0x80, data: '01' }] },
      nlri: ['192.0.2.0/24'],
    },
    decodeOnly: 'optional non-transitive unknown attributes are not passed on (RFC 4271 section 5)',
  },
  {
    name: 'UPDATE with an extended-length AS_PATH',
    bytes: update([], [ORIGIN_IGP, attr(0x50, 2, [2, 70], ...Array.from({ length: 70 }, (_, i) => u32(65000 + i))), nextHop('192.0.2.1')], [24, 192, 0, 2]),
    json: {
      type: 'UPDATE', withdrawn: [],
      attributes: { origin: 'igp', asPath: [{ type: 'sequence', asns: Array.from({ length: 70 }, (_, i) => 65000 + i) }], nextHop: '192.0.2.1' },
      nlri: ['192.0.2.0/24'],
    },
  },
  {
    name: 'UPDATE clears host bits beyond the prefix length',
    bytes: update([], [ORIGIN_IGP, asPath4(), nextHop('192.0.2.1')], [23, 192, 0, 3]),
    json: { type: 'UPDATE', withdrawn: [], attributes: { origin: 'igp', asPath: [], nextHop: '192.0.2.1' }, nlri: ['192.0.2.0/23'] },
    decodeOnly: 'the stray host bit is not re-encoded',
  },
  {
    name: 'UPDATE from a 2-octet AS speaker: AS4_PATH and AS4_AGGREGATOR merged (RFC 6793)',
    ctx: twoOctet,
    bytes: update([], [
      ORIGIN_IGP,
      attr(0x40, 2, [2, 3], u16(65001), u16(23456), u16(23456)),
      nextHop('192.0.2.1'),
      attr(0xc0, 7, u16(23456), ip4('192.0.2.200')),
      attr(0xc0, 17, [2, 2], u32(4200000000), u32(4200000001)),
      attr(0xc0, 18, u32(4200000002), ip4('192.0.2.200')),
    ], [24, 198, 51, 100]),
    json: {
      type: 'UPDATE', withdrawn: [],
      attributes: {
        origin: 'igp',
        asPath: [{ type: 'sequence', asns: [65001] }, { type: 'sequence', asns: [4200000000, 4200000001] }],
        nextHop: '192.0.2.1',
        aggregator: { as: 4200000002, address: '192.0.2.200' },
      },
      nlri: ['198.51.100.0/24'],
    },
    decodeOnly: 'the merged path re-encodes as one segment',
  },
  {
    name: 'UPDATE to a 2-octet AS speaker: AS_TRANS in AS_PATH plus AS4_PATH',
    ctx: twoOctet,
    bytes: update([], [
      ORIGIN_IGP,
      attr(0x40, 2, [2, 3], u16(65001), u16(23456), u16(23456)),
      nextHop('192.0.2.1'),
      attr(0xc0, 7, u16(23456), ip4('192.0.2.200')),
      attr(0xc0, 17, [2, 3], u32(65001), u32(4200000000), u32(4200000001)),
      attr(0xc0, 18, u32(4200000002), ip4('192.0.2.200')),
    ], [24, 198, 51, 100]),
    json: {
      type: 'UPDATE', withdrawn: [],
      attributes: {
        origin: 'igp',
        asPath: [{ type: 'sequence', asns: [65001, 4200000000, 4200000001] }],
        nextHop: '192.0.2.1',
        aggregator: { as: 4200000002, address: '192.0.2.200' },
      },
      nlri: ['198.51.100.0/24'],
    },
  },
  {
    name: 'UPDATE from a 2-octet speaker ignores AS4_PATH when AGGREGATOR is not AS_TRANS',
    ctx: twoOctet,
    bytes: update([], [
      ORIGIN_IGP,
      attr(0x40, 2, [2, 2], u16(65001), u16(65002)),
      nextHop('192.0.2.1'),
      attr(0xc0, 7, u16(65002), ip4('192.0.2.200')),
      attr(0xc0, 17, [2, 1], u32(4200000000)),
    ], [24, 198, 51, 100]),
    json: {
      type: 'UPDATE', withdrawn: [],
      attributes: { origin: 'igp', asPath: [{ type: 'sequence', asns: [65001, 65002] }], nextHop: '192.0.2.1', aggregator: { as: 65002, address: '192.0.2.200' } },
      nlri: ['198.51.100.0/24'],
    },
    decodeOnly: 'the ignored AS4_PATH is not re-encoded',
  },
  {
    name: 'UPDATE with MP_REACH_NLRI for IPv6 (global next hop)',
    bytes: update([], [attr(0x90, 14, u16(2), [1, 16], v6('2001:db8::1'), [0], [48], v6('2001:db8:1::').subarray(0, 6), [64], v6('2001:db8:2:3::').subarray(0, 8)), ORIGIN_IGP, asPath4(65001)], []),
    json: {
      type: 'UPDATE', withdrawn: [],
      attributes: { origin: 'igp', asPath: [{ type: 'sequence', asns: [65001] }], mpReach: { afi: 2, safi: 1, nextHops: ['2001:db8::1'], nlri: ['2001:db8:1::/48', '2001:db8:2:3::/64'] } },
      nlri: [],
    },
    decodeOnly: 'our encoder uses a 1-octet length for short MP_REACH',
  },
  {
    name: 'UPDATE with MP_REACH_NLRI for IPv6 (global and link-local next hops)',
    bytes: update([], [attr(0x80, 14, u16(2), [1, 32], v6('2001:db8::1'), v6('fe80::1'), [0], [128], v6('2001:db8::53')), ORIGIN_IGP, asPath4()], []),
    json: {
      type: 'UPDATE', withdrawn: [],
      attributes: { origin: 'igp', asPath: [], mpReach: { afi: 2, safi: 1, nextHops: ['2001:db8::1', 'fe80::1'], nlri: ['2001:db8::53/128'] } },
      nlri: [],
    },
  },
  {
    name: 'UPDATE with MP_REACH_NLRI for IPv4 with an IPv6 next hop (RFC 8950)',
    bytes: update([], [attr(0x80, 14, u16(1), [1, 16], v6('2001:db8::1'), [0], [24, 192, 0, 2]), ORIGIN_IGP, asPath4()], []),
    json: {
      type: 'UPDATE', withdrawn: [],
      attributes: { origin: 'igp', asPath: [], mpReach: { afi: 1, safi: 1, nextHops: ['2001:db8::1'], nlri: ['192.0.2.0/24'] } },
      nlri: [],
    },
  },
  {
    name: 'UPDATE with MP_UNREACH_NLRI for IPv6 (exact prefix octets)',
    bytes: update([], [attr(0x80, 15, u16(2), [1], [32], v6('2001:db8::').subarray(0, 4), [0])], []),
    json: { type: 'UPDATE', withdrawn: [], attributes: { mpUnreach: { afi: 2, safi: 1, withdrawn: ['2001:db8::/32', '::/0'] } }, nlri: [] },
  },
  {
    name: 'End-of-RIB for IPv4 unicast',
    bytes: update([], [], []),
    json: { type: 'UPDATE', withdrawn: [], attributes: {}, nlri: [], endOfRib: { afi: 1, safi: 1 } },
  },
  {
    name: 'End-of-RIB for IPv6 unicast',
    bytes: update([], [attr(0x80, 15, u16(2), [1])], []),
    json: { type: 'UPDATE', withdrawn: [], attributes: { mpUnreach: { afi: 2, safi: 1, withdrawn: [] } }, nlri: [], endOfRib: { afi: 2, safi: 1 } },
  },
  {
    name: 'UPDATE with ADD-PATH path identifiers for IPv4 and IPv6',
    ctx: addPathAll,
    bytes: update(bytes(u32(7), [24, 10, 0, 0]), [
      attr(0x80, 14, u16(2), [1, 16], v6('2001:db8::1'), [0], u32(1), [48], v6('2001:db8:5::').subarray(0, 6), u32(2), [48], v6('2001:db8:5::').subarray(0, 6)),
      ORIGIN_IGP, asPath4(), nextHop('192.0.2.1'),
    ], bytes(u32(1), [26, 10, 1, 2, 64], u32(2), [26, 10, 1, 2, 64])),
    json: {
      type: 'UPDATE',
      withdrawn: [{ prefix: '10.0.0.0/24', pathId: 7 }],
      attributes: {
        origin: 'igp', asPath: [], nextHop: '192.0.2.1',
        mpReach: { afi: 2, safi: 1, nextHops: ['2001:db8::1'], nlri: [{ prefix: '2001:db8:5::/48', pathId: 1 }, { prefix: '2001:db8:5::/48', pathId: 2 }] },
      },
      nlri: [{ prefix: '10.1.2.64/26', pathId: 1 }, { prefix: '10.1.2.64/26', pathId: 2 }],
    },
  },
  {
    name: 'UPDATE keeps MP_REACH_NLRI of another family raw',
    bytes: update([], [attr(0x80, 14, u16(1), [128, 12], Array(12).fill(0), [0]), ORIGIN_IGP, asPath4()], []),
    json: {
      type: 'UPDATE', withdrawn: [],
      attributes: { origin: 'igp', asPath: [], unknown: [{ type: 14, flags: 0x80, data: '0001800c00000000000000000000000000' }] },
      nlri: [],
    },
    decodeOnly: 'families we do not decode are not passed on',
  },

  // --- NOTIFICATION --------------------------------------------------------
  {
    name: 'NOTIFICATION Cease / Administrative Shutdown with a shutdown communication',
    bytes: msg(3, [6, 2, 12], Buffer.from('maintenance!')),
    json: { type: 'NOTIFICATION', code: 6, subcode: 2, data: '0c' + Buffer.from('maintenance!').toString('hex'), shutdownMessage: 'maintenance!' },
  },
  {
    name: 'NOTIFICATION Cease / Administrative Reset with a UTF-8 shutdown communication',
    bytes: msg(3, [6, 4, 5], Buffer.from('über', 'utf8')),
    json: { type: 'NOTIFICATION', code: 6, subcode: 4, data: '05' + Buffer.from('über').toString('hex'), shutdownMessage: 'über' },
  },
  {
    name: 'NOTIFICATION Hold Timer Expired',
    bytes: msg(3, [4, 0]),
    json: { type: 'NOTIFICATION', code: 4, subcode: 0, data: '' },
  },
  {
    name: 'NOTIFICATION Bad Message Length with data',
    bytes: msg(3, [1, 2], u16(5000)),
    json: { type: 'NOTIFICATION', code: 1, subcode: 2, data: '1388' },
  },

  // --- ROUTE-REFRESH -------------------------------------------------------
  { name: 'ROUTE-REFRESH normal request', bytes: msg(5, u16(1), [0, 1]), json: { type: 'ROUTE-REFRESH', afi: 1, safi: 1, subtype: 0 } },
  { name: 'ROUTE-REFRESH Beginning of Route Refresh', bytes: msg(5, u16(2), [1, 1]), json: { type: 'ROUTE-REFRESH', afi: 2, safi: 1, subtype: 1 } },
  { name: 'ROUTE-REFRESH End of Route Refresh', bytes: msg(5, u16(1), [2, 1]), json: { type: 'ROUTE-REFRESH', afi: 1, safi: 1, subtype: 2 } },
];

// Every RFC 4271 / 4486 / 6608 / 7313 (code, subcode) pair round-trips.
const allCodes: [number, number[]][] = [
  [1, [1, 2, 3]],
  [2, [0, 1, 2, 3, 4, 6, 7]],
  [3, [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11]],
  [4, [0]],
  [5, [0, 1, 2, 3]],
  [6, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]],
  [7, [1]],
];
for (const [code, subs] of allCodes) {
  for (const subcode of subs) {
    if (code === 6 && (subcode === 2 || subcode === 4)) continue; // covered above with text
    fixtures.push({ name: `NOTIFICATION ${code}/${subcode}`, bytes: msg(3, [code, subcode]), json: { type: 'NOTIFICATION', code, subcode, data: '' } });
  }
}
