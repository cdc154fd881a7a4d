/** The AFI/SAFI descriptor table agrees with the codecs it stands in for. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { familyOf, familyOfAfi } from '../../src/bgp/family.js';
import { AF_INET, AF_INET6 } from '../../src/bgp/fib/netlink-codec.js';
import { Afi, PrefixList } from '../../src/bgp/packet/index.js';
import { parseIp } from '../../src/net/index.js';

test('each descriptor agrees with the packet codec, rtnetlink and src/net', () => {
  for (const [family, afi, af] of [
    [4, Afi.IPV4, AF_INET],
    [6, Afi.IPV6, AF_INET6],
  ] as const) {
    const d = familyOf(family);
    assert.equal(familyOfAfi(afi), d);
    assert.equal(d.afi, afi);
    assert.equal(d.netlinkFamily, af);
    assert.equal(d.keyWidth, PrefixList.fromStrings(afi, [`${d.anyAddress}/0`]).stride);
    assert.equal(parseIp(d.anyAddress)?.family, family);
    assert.equal(d.addressLength * 8, d.maxPrefixLength);
    assert.equal(d.birdChannel, `ipv${family}`);
  }
});
