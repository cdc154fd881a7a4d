import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_TAG, PrefixTable, taggable } from '../../../src/bgp/rib/prefix-table.js';
import { ipv4Key, type PrefixKey } from '../../../src/bgp/rib/prefix-key.js';

const sorted = <T>(it: Iterable<T>): T[] => [...it].sort((a, b) => String(a).localeCompare(String(b)));

test('PrefixTable behaves like a Map under random sets and deletes, through growth and shrinking', () => {
  // Few distinct keys (so deletes hit) of every length, including /31 and /32
  // whose keys exceed 2^31, plus IPv6 text keys.
  const key = fc.oneof(
    fc.tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 32 })).map(([i, len]) => ipv4Key((0xc6336400 + i * 7919) >>> 0, len) as PrefixKey),
    fc.integer({ min: 0, max: 20 }).map((i) => `2001:db8:${i.toString(16)}::/48` as PrefixKey),
  );
  const op = fc.oneof(fc.tuple(fc.constant('set' as const), key, fc.integer()), fc.tuple(fc.constant('delete' as const), key, fc.constant(0)), fc.tuple(fc.constant('clear' as const), key, fc.constant(0)));
  fc.assert(
    fc.property(fc.array(op, { maxLength: 2000 }), (ops) => {
      const t = new PrefixTable<number>();
      const m = new Map<PrefixKey, number>();
      for (const [kind, k, v] of ops) {
        if (kind === 'set') {
          t.set(k, v);
          m.set(k, v);
        } else if (kind === 'delete') {
          assert.equal(t.delete(k), m.delete(k));
        } else if (v === 0 && ops.length > 1500) {
          t.clear();
          m.clear();
        }
        assert.equal(t.get(k), m.get(k));
        assert.equal(t.has(k), m.has(k));
      }
      assert.equal(t.size, m.size);
      assert.deepEqual(sorted(t.keys()), sorted(m.keys()));
      assert.deepEqual(sorted([...t].map(([k, v]) => `${k}=${v}`)), sorted([...m].map(([k, v]) => `${k}=${v}`)));
      assert.deepEqual(sorted(t.values()), sorted(m.values()));
    }),
    { seed: 17, numRuns: 300 },
  );
});

test('a tagged PrefixTable keeps each IPv4 value\'s tag through replacement, growth, shrinking and walks', () => {
  const key = fc.oneof(
    fc.tuple(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 0, max: 32 })).map(([i, len]) => ipv4Key((0xcb007100 + i * 7919) >>> 0, len) as PrefixKey),
    fc.integer({ min: 0, max: 10 }).map((i) => `2001:db8:${i.toString(16)}::/48` as PrefixKey),
  );
  const op = fc.tuple(fc.constantFrom('set', 'set', 'delete'), key, fc.integer({ min: 0, max: MAX_TAG }));
  fc.assert(
    fc.property(fc.array(op, { maxLength: 3000 }), (ops) => {
      const t = new PrefixTable<string>({ tagBits: 16 });
      const m = new Map<PrefixKey, [string, number]>();
      for (const [kind, k, rawTag] of ops) {
        const tag = taggable(k) ? rawTag : 0;
        if (kind === 'set') {
          t.set(k, `v${rawTag}`, tag);
          m.set(k, [`v${rawTag}`, tag]);
        } else assert.equal(t.delete(k), m.delete(k));
        assert.deepEqual(t.lookup(k, (v, g) => [v, g]), m.get(k));
      }
      const walked: string[] = [];
      t.forEach((v, k, g) => walked.push(`${k}=${v}/${g}`));
      const expected = sorted([...m].map(([k, [v, g]]) => `${k}=${v}/${g}`));
      assert.deepEqual(sorted(walked), expected);
      assert.deepEqual(sorted([...t.tagged()].map(([k, v, g]) => `${k}=${v}/${g}`)), expected);
    }),
    { seed: 29, numRuns: 200 },
  );
  assert.throws(() => new PrefixTable<string>({ tagBits: 16 }).set('2001:db8::/32', 'x', 1), /cannot carry tag/);
});

test('PrefixTable: deleting while iterating visits every entry once', () => {
  const t = new PrefixTable<number>();
  for (let i = 0; i < 50_000; i++) t.set(ipv4Key(0xc0000200 + i * 256, 24), i);
  const seen = new Set<number>();
  for (const [k, v] of t) {
    assert.ok(!seen.has(v), 'no entry twice');
    seen.add(v);
    if (v % 2 === 0) t.delete(k);
  }
  assert.equal(seen.size, 50_000);
  assert.equal(t.size, 25_000);
  for (let i = 0; i < 50_000; i++) assert.equal(t.get(ipv4Key(0xc0000200 + i * 256, 24)), i % 2 === 0 ? undefined : i);
  // Refill after mass deletion: tombstones are reclaimed, lookups stay exact.
  for (let i = 0; i < 50_000; i += 2) t.set(ipv4Key(0xc0000200 + i * 256, 24), -i);
  assert.equal(t.size, 50_000);
  assert.equal(t.get(ipv4Key(0xc0000200 + 4 * 256, 24)), -4);
});

test('PrefixTable: keys at the 32-bit edge (/31 of the last pair, /32s) live beside the slots', () => {
  const t = new PrefixTable<string>();
  const edge = [ipv4Key(0xfffffffe, 31), ipv4Key(0xffffffff, 32), ipv4Key(0, 32), ipv4Key(0xfffffffc, 31), ipv4Key(0, 0)];
  assert.equal(edge[0], 0xffffffff);
  edge.forEach((k, i) => t.set(k, `v${i}`));
  edge.forEach((k, i) => assert.equal(t.get(k), `v${i}`));
  assert.equal(t.size, edge.length);
  assert.deepEqual(sorted(t.keys()), sorted(edge));
  assert.ok(t.delete(edge[0]!) && t.delete(edge[1]!));
  assert.equal(t.get(edge[0]!), undefined);
  assert.equal(t.size, edge.length - 2);
});

test('sizeByFamily counts IPv4 keys (host routes included) and IPv6 keys without a walk', () => {
  const t = new PrefixTable<number>();
  const host = ipv4Key(0xc0000201, 32); // 192.0.2.1/32 lives beside the IPv6 keys
  const block = ipv4Key(0xc0000200, 26);
  t.set(host, 1);
  t.set(host, 2); // replacing counts once
  t.set(block, 3);
  t.set('2001:db8::/64', 4);
  assert.deepEqual(t.sizeByFamily, { ipv4: 2, ipv6: 1 });
  assert.equal(t.delete(host), true);
  assert.equal(t.delete(host), false);
  assert.deepEqual(t.sizeByFamily, { ipv4: 1, ipv6: 1 });
  t.clear();
  assert.deepEqual(t.sizeByFamily, { ipv4: 0, ipv6: 0 });
});
