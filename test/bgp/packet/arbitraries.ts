/** fast-check generators for codec property tests. */
import fc from 'fast-check';
import { ipv4ToString, ipv6ToString, maskWord } from '../../../src/bgp/packet/index.js';

export const ipv4 = fc.integer({ min: 0, max: 0xffffffff }).map((n) => ipv4ToString(n >>> 0));
export const unicastIpv4 = fc.integer({ min: 0x01000000, max: 0xdfffffff }).map((n) => ipv4ToString(n >>> 0));
const word = fc.integer({ min: 0, max: 0xffffffff });
export const ipv6 = fc.tuple(word, word, word, word).map((w) => ipv6ToString(w));

export const v4Prefix = fc.tuple(word, fc.integer({ min: 0, max: 32 })).map(([a, len]) => `${ipv4ToString(maskWord(a, len))}/${len}`);
export const v6Prefix = fc
  .tuple(word, word, word, word, fc.integer({ min: 0, max: 128 }))
  .map(([a, b, c, d, len]) => `${ipv6ToString([a, b, c, d].map((w, i) => maskWord(w, len - 32 * i)))}/${len}`);

const asn = fc.integer({ min: 1, max: 0xffffffff });
const segment = fc.record({
  type: fc.constantFrom('sequence', 'set', 'confedSequence', 'confedSet'),
  asns: fc.array(asn, { minLength: 1, maxLength: 12 }),
});
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

/** Optional attributes in JSON form (the decode tool's shape). */
export const attributesJson = fc.record(
  {
    origin: fc.constantFrom('igp', 'egp', 'incomplete'),
    asPath: fc.array(segment, { maxLength: 4 }),
    med: u32,
    localPref: u32,
    atomicAggregate: fc.constant(true),
    aggregator: fc.record({ as: asn, address: ipv4 }),
    communities: fc.array(fc.tuple(u16, u16).map(([a, b]) => `${a}:${b}`), { minLength: 1, maxLength: 8 }),
    originatorId: ipv4,
    clusterList: fc.array(ipv4, { minLength: 1, maxLength: 4 }),
    extendedCommunities: fc.array(fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b) => Buffer.from(b).toString('hex')), { minLength: 1, maxLength: 4 }),
    largeCommunities: fc.array(fc.tuple(u32, u32, u32).map((t) => t.join(':')), { minLength: 1, maxLength: 4 }),
  },
  { requiredKeys: ['origin', 'asPath'] },
);

/** An UPDATE in JSON form with IPv4 NLRI/withdrawals and maybe IPv6 MP attributes. */
export const updateJson = fc
  .record({
    withdrawn: fc.array(v4Prefix, { maxLength: 20 }),
    nlri: fc.array(v4Prefix, { maxLength: 20 }),
    attrs: attributesJson,
    nextHop: unicastIpv4,
    v6: fc.option(fc.record({ nextHops: fc.oneof(fc.tuple(ipv6), fc.tuple(ipv6, ipv6)), nlri: fc.array(v6Prefix, { minLength: 1, maxLength: 10 }) })),
    v6w: fc.option(fc.array(v6Prefix, { maxLength: 10 })),
  })
  .map(({ withdrawn, nlri, attrs, nextHop, v6, v6w }) => {
    const attributes: Record<string, unknown> = { ...attrs };
    if (nlri.length > 0) attributes.nextHop = nextHop;
    if (v6 !== null) attributes.mpReach = { afi: 2, safi: 1, nextHops: [...v6.nextHops], nlri: v6.nlri };
    if (v6w !== null) attributes.mpUnreach = { afi: 2, safi: 1, withdrawn: v6w };
    return { type: 'UPDATE', withdrawn, attributes, nlri };
  });
