/**
 * The simulation's byte-level UPDATE reader against our codec's encoding:
 * IPv4 and IPv6 announcements, withdrawals and End-of-RIBs read back as
 * the blocks and next hops that were written, and IPv6 prefixes or next
 * hops outside the simulation's ranges reported as such.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Afi, DEFAULT_CONTEXT, PrefixList, encodeMessage, packUpdates } from '../../src/bgp/packet/index.js';
import { IPV4, IPV6, type SimFamily } from './sim-families.js';

interface Seen {
  announced: [number, number][];
  withdrawn: number[];
}

function read(fam: SimFamily, msgs: readonly Buffer[]): Seen {
  const seen: Seen = { announced: [], withdrawn: [] };
  for (const m of msgs) {
    assert.equal(fam.isEndOfRib(m), false);
    fam.scan(m, {
      announce: (addr, len, nh) => seen.announced.push([fam.blockOf(addr, len), nh]),
      withdraw: (addr, len) => seen.withdrawn.push(fam.blockOf(addr, len)),
    });
  }
  return seen;
}

for (const fam of [IPV4, IPV6]) {
  test(`${fam.name}: blocks, next hops, withdrawals and End-of-RIB read back as written`, () => {
    const blocks = Array.from({ length: 300 }, (_, i) => i * 7 + 1);
    const seen = read(fam, fam.announce(41, blocks));
    assert.deepEqual(seen.announced, blocks.map((b) => [b, fam.nextHopKey(41)]));
    assert.deepEqual(read(fam, [fam.withdraw([5, 9])]).withdrawn, [5, 9]);
    assert.equal(fam.isEndOfRib(fam.endOfRib()), true);
    assert.equal((fam === IPV4 ? IPV6 : IPV4).isEndOfRib(fam.endOfRib()), false);
  });
}

test('IPv6: a prefix outside the pool is not a block, a next hop outside the nodes\' range is no node\'s', () => {
  const nlri = PrefixList.fromStrings(Afi.IPV6, ['2001:db8:2::40/122', '2001:db8:1::40/122', '2001:db8:1::/64']);
  const msgs = packUpdates(nlri, { origin: 0, asPath: [] }, DEFAULT_CONTEXT, ['2001:db8:73::2']);
  const seen = read(IPV6, msgs);
  assert.deepEqual(seen.announced, [
    [-1, 0],
    [1, 0],
    [-1, 0],
  ]);
  const wrongNode = read(IPV6, packUpdates(PrefixList.fromStrings(Afi.IPV6, ['2001:db8:1::80/122']), { origin: 0, asPath: [] }, DEFAULT_CONTEXT, ['2001:db8:72::3']));
  assert.deepEqual(wrongNode.announced, [[2, IPV6.nextHopKey(2)]]);
  assert.notEqual(IPV6.nextHopKey(2), IPV6.nextHopKey(1));
});

test('IPv6: a truncated MP_REACH_NLRI is a RangeError, not a read past the message', () => {
  const [msg] = IPV6.announce(0, [1]);
  const cut = Buffer.from(msg!.subarray(0, msg!.length - 3));
  cut.writeUInt16BE(cut.length, 16);
  assert.throws(() => IPV6.scan(cut, { announce: () => {}, withdraw: () => {} }), RangeError);
});

test('an IPv6 withdrawal is not an End-of-RIB, an IPv4 UPDATE is not read as IPv6', () => {
  assert.equal(IPV6.isEndOfRib(IPV6.withdraw([3])), false);
  const v4 = encodeMessage({ type: 'UPDATE', withdrawn: PrefixList.fromStrings(Afi.IPV4, ['10.0.0.64/26']), attributes: {}, nlri: PrefixList.empty(Afi.IPV4) }, DEFAULT_CONTEXT);
  assert.deepEqual(read(IPV6, [v4]), { announced: [], withdrawn: [] });
});
