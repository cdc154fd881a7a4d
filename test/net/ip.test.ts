/**
 * The one IP module (src/net): an edge-case table, and property tests that
 * hold it to Node's own `net.isIP` (validity) and `net.BlockList`
 * (containment), which are independent implementations.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fc from 'fast-check';
import {
  cidrContains,
  formatGroups,
  ipv4ToString,
  ipv6ToString,
  keyPartToCidr,
  cidrToKeyPart,
  maskWord,
  parseCidr,
  parseIp,
  parseIpv4,
  parseIpv6,
} from '../../src/net/index.js';

/** Our verdict on one text: 0 (not an address), 4 or 6, by the low-level parsers. */
function ourFamily(text: string): 0 | 4 | 6 {
  if (parseIpv4(text) !== undefined) return 4;
  if (parseIpv6(text) !== undefined) return 6;
  return 0;
}

describe('src/net edge cases', () => {
  const table: [string, 0 | 4 | 6, string | undefined][] = [
    // text, family, canonical text from parseIp
    ['10.1.1.1', 4, '10.1.1.1'],
    ['010.1.1.1', 0, undefined], // leading zero: Go (>= 1.17) and Node refuse it
    ['10.01.1.1', 0, undefined],
    ['0.0.0.0', 4, '0.0.0.0'],
    ['255.255.255.255', 4, '255.255.255.255'],
    ['256.1.1.1', 0, undefined],
    ['1.2.3', 0, undefined],
    ['1.2.3.4.5', 0, undefined],
    ['1..2.3', 0, undefined],
    ['1.2.3.4 ', 0, ' trimmed'],
    ['', 0, undefined],
    ['::', 6, '::'],
    ['::1', 6, '::1'],
    ['2001:0DB8:0000:0000:0000:0000:0000:0001', 6, '2001:db8::1'],
    ['2001:db8:0:1:0:0:0:1', 6, '2001:db8:0:1::1'], // longest zero run wins
    ['2001:0:0:1:0:0:0:1', 6, '2001:0:0:1::1'],
    ['2001:db8:0:0:1:0:0:1', 6, '2001:db8::1:0:0:1'], // first run on a tie
    ['2001:db8:1:1:1:1:0:1', 6, '2001:db8:1:1:1:1:0:1'], // a single zero group stays
    ['::ffff:1.2.3.4', 6, '1.2.3.4'], // Go's net.IP: an IPv4-mapped address is IPv4
    ['::1.2.3.4', 6, '::102:304'],
    ['1.2.3.4::', 0, undefined], // a dotted quad only as the last 32 bits
    ['1.2.3.4::1', 0, undefined],
    ['::ffff:010.1.2.3', 0, undefined],
    ['2001:db8::1::2', 0, undefined],
    ['2001:db8:::1', 0, undefined],
    ['12345::', 0, undefined],
    ['1:2:3:4:5:6:7:8:9', 0, undefined],
    ['1:2:3:4:5:6:7::8', 0, undefined], // '::' must stand for at least one group
    ['fe80::1%eth0', 0, undefined], // zone ids are not addresses here
    [':1', 0, undefined],
    ['1:', 0, undefined],
  ];
  for (const [text, family, canonical] of table) {
    it(`'${text}'`, () => {
      assert.equal(ourFamily(text), family);
      if (canonical === ' trimmed') assert.equal(parseIp(text)?.text, text.trim());
      else assert.equal(parseIp(text)?.text, canonical);
      // Node agrees on validity, except for zone ids, which Node accepts.
      if (!text.includes('%')) assert.equal(net.isIP(text), family);
    });
  }

  it('formats IPv4-mapped words in RFC 5952 section 5 mixed notation', () => {
    assert.equal(ipv6ToString([0, 0, 0xffff, 0x01020304]), '::ffff:1.2.3.4');
    assert.equal(ipv6ToString([0, 0, 0xfffe, 0x01020304]), '::fffe:102:304');
    assert.equal(formatGroups([1, 0, 1, 0, 1, 0, 1, 0]), '1:0:1:0:1:0:1:0');
  });

  it('CIDRs: network, strict prefix lengths, mapped CIDRs as Go reads them', () => {
    assert.deepEqual(parseCidr('fdf5:10::2/112'), {
      family: 6,
      ip: 'fdf5:10::2',
      prefixLength: 112,
      network: 'fdf5:10::/112',
      words: [0xfdf50010, 0, 0, 0],
    });
    assert.equal(parseCidr('10.1.2.3/8')?.network, '10.0.0.0/8');
    assert.equal(parseCidr('10.1.2.3'), undefined);
    assert.equal(parseCidr('10.1.2.3', true)?.network, '10.1.2.3/32');
    for (const bad of ['10.0.0.0/33', '10.0.0.0/08', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/8/8', '::/129', '010.0.0.0/8', '10.0.0.0/1e1']) {
      assert.equal(parseCidr(bad), undefined, bad);
    }
    assert.equal(parseCidr('::ffff:10.1.2.0/120')?.network, '10.1.2.0/24');
    assert.equal(parseCidr('::ffff:0:0/95')?.family, 6);
    assert.ok(cidrContains(parseCidr('80.15.0.0/24')!, parseIp('80.15.0.1')!));
    assert.ok(!cidrContains(parseCidr('80.15.0.0/24')!, parseIp('80.15.1.1')!));
    assert.ok(!cidrContains(parseCidr('::/0')!, parseIp('80.15.1.1')!));
    assert.equal(keyPartToCidr(cidrToKeyPart('2001:db8::/64')), '2001:db8::/64');
  });
});

const word = fc.integer({ min: 0, max: 0xffffffff });
const v6words = fc.tuple(word, word, word, word);
/** v6 words that are not IPv4-mapped (those parse as IPv4 at the datastore level). */
const plainV6 = v6words.filter((w) => !(w[0] === 0 && w[1] === 0 && w[2] === 0xffff));

/** Texts near the address grammar: mutations of valid addresses. */
const mutated = fc
  .tuple(fc.oneof(word.map(ipv4ToString), v6words.map((w) => ipv6ToString(w))), fc.array(fc.tuple(fc.nat(), fc.constantFrom('', '0', '1', 'f', ':', '.', '::', '00', 'g', '256')), { maxLength: 3 }))
  .map(([text, edits]) => {
    let s = text;
    for (const [at, piece] of edits) {
      const i = at % (s.length + 1);
      s = s.slice(0, i) + piece + s.slice(i + (piece === '' ? 1 : 0));
    }
    return s;
  });

describe('src/net properties', () => {
  it('validity agrees with net.isIP on mutated addresses', () => {
    fc.assert(
      fc.property(mutated, (s) => ourFamily(s) === net.isIP(s)),
      { numRuns: 20000, seed: 15 },
    );
  });

  it('formatting round-trips and Node accepts the text', () => {
    fc.assert(
      fc.property(v6words, (w) => {
        const text = ipv6ToString(w);
        const back = parseIpv6(text);
        return net.isIPv6(text) && back !== undefined && back.every((x, i) => x === w[i]! >>> 0) && text === text.toLowerCase();
      }),
      { numRuns: 10000, seed: 15 },
    );
    fc.assert(
      fc.property(word, (v) => net.isIPv4(ipv4ToString(v)) && parseIpv4(ipv4ToString(v)) === v >>> 0),
      { numRuns: 10000, seed: 15 },
    );
  });

  it('CIDR containment agrees with net.BlockList', () => {
    const v4case = fc.tuple(word, fc.integer({ min: 0, max: 32 }), word, fc.boolean());
    fc.assert(
      fc.property(v4case, ([net4, len, probe, near]) => {
        // Half the probes share the network's top bits, so "inside" is tested, not only "outside".
        const addr = near ? (maskWord(net4, len) | (probe & ~(len === 0 ? 0 : 0xffffffff << (32 - len)))) >>> 0 : probe;
        const cidr = parseCidr(`${ipv4ToString(net4)}/${len}`)!;
        const list = new net.BlockList();
        list.addSubnet(ipv4ToString(net4), len, 'ipv4');
        return cidrContains(cidr, parseIp(ipv4ToString(addr))!) === list.check(ipv4ToString(addr), 'ipv4');
      }),
      { numRuns: 5000, seed: 15 },
    );
    const v6case = fc.tuple(plainV6, fc.integer({ min: 0, max: 128 }), plainV6, fc.boolean());
    fc.assert(
      fc.property(v6case, ([n, len, probe, near]) => {
        const p = near ? probe.map((w, i) => (maskWord(n[i]!, len - 32 * i) | (w & ~maskWord(0xffffffff, len - 32 * i))) >>> 0) : probe;
        const netText = ipv6ToString(n);
        const probeText = ipv6ToString(p);
        const cidr = parseCidr(`${netText}/${len}`)!;
        const ip = parseIp(probeText)!;
        if (ip.family !== 6) return true; // a probe that became IPv4-mapped: out of scope
        const list = new net.BlockList();
        list.addSubnet(netText, len, 'ipv6');
        return cidrContains(cidr, ip) === list.check(probeText, 'ipv6');
      }),
      { numRuns: 5000, seed: 15 },
    );
  });
});
