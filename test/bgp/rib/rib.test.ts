import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AttrTable } from '../../../src/bgp/rib/intern.js';
import { LocRib } from '../../../src/bgp/rib/loc-rib.js';
import { comparePaths, selectBest, type Path, type PathSource } from '../../../src/bgp/rib/best-path.js';
import { keyFromString, keyToString } from '../../../src/bgp/rib/prefix-key.js';
import { parseIpv4, type PathAttributes } from '../../../src/bgp/packet/index.js';

const table = new AttrTable();
function peer(address: string, peerType: 'internal' | 'external' = 'internal', routerId = address): PathSource {
  return { name: address, address, routerId: parseIpv4(routerId)!, peerType, addressKey: parseIpv4(address)! };
}
const base: PathAttributes = { origin: 0, asPath: [{ type: 2, asns: [65001] }], nextHop: '192.0.2.9' };
function path(source: PathSource | null, attrs: Partial<PathAttributes> = {}, pathId = 0, stale: 0 | 1 | 2 = 0): Path {
  return { source, attrs: table.intern({ ...base, ...attrs }), pathId, stale };
}
const A = peer('192.0.2.1');
const B = peer('192.0.2.2');

test('each decision step decides in RFC 4271 order and says which step it was', () => {
  const cases: [Path, Path, string][] = [
    [path(null), path(A, { localPref: 1000 }), 'local'],
    [path(A), path(B, { localPref: 200 }, 0, 2), 'llgrStale'],
    [path(A, { localPref: 200 }), path(B, { localPref: 100 }), 'localPref'],
    [path(A, { asPath: [{ type: 2, asns: [1] }] }), path(B, { asPath: [{ type: 2, asns: [1, 2] }] }), 'asPathLength'],
    [path(A, { asPath: [{ type: 2, asns: [1] }, { type: 1, asns: [5, 6, 7] }] }), path(B, { asPath: [{ type: 2, asns: [1, 2, 3] }] }), 'asPathLength'],
    [path(A, { origin: 0 }), path(B, { origin: 2 }), 'origin'],
    [path(A, { med: 5 }), path(B, { med: 10 }), 'med'],
    [path(peer('192.0.2.3', 'external')), path(A), 'external'],
    [path(A, { clusterList: ['192.0.2.100'] }), path(B, { clusterList: ['192.0.2.100', '192.0.2.101'] }), 'clusterListLength'],
    [path(B, { originatorId: '192.0.2.0' }), path(A), 'routerId'],
    [path(A), path(B), 'routerId'],
    [path(peer('192.0.2.4', 'internal', '192.0.2.50')), path(peer('192.0.2.5', 'internal', '192.0.2.50')), 'peerAddress'],
    [path(A, {}, 1), path(A, {}, 2), 'pathId'],
  ];
  for (const [better, worse, step] of cases) {
    assert.deepEqual(comparePaths(better, worse).step, step);
    assert.ok(comparePaths(better, worse).order < 0, `${step}: better wins`);
    assert.ok(comparePaths(worse, better).order > 0, `${step}: symmetric`);
  }
});

test('MED is compared only between routes from the same neighbor AS', () => {
  const a = path(A, { med: 50, asPath: [{ type: 2, asns: [65001] }] });
  const b = path(B, { med: 10, asPath: [{ type: 2, asns: [65002] }] });
  assert.notEqual(comparePaths(a, b).step, 'med');
});

test('routes equal up to the iBGP/eBGP step form the multipath set', () => {
  const sel = selectBest([path(A), path(B), path(peer('192.0.2.3'), { localPref: 50 })]);
  assert.equal(sel.best?.source, A);
  assert.deepEqual(sel.multipath.map((p) => p.source), [A, B]);
});

test('the Loc-RIB reports best-path changes only when they happen', () => {
  const rib = new LocRib(table);
  const key = keyFromString('10.1.2.0/26');
  assert.ok(rib.announce(A, key, 0, table.intern(base)) !== null);
  assert.equal(rib.announce(A, key, 0, table.intern(base)), null, 'the same route again changes nothing');
  assert.ok(rib.announce(B, key, 0, table.intern({ ...base, localPref: 200 })) !== null);
  assert.equal(rib.get(key)?.best?.source, B);
  assert.ok(rib.withdraw(B, key, 0) !== null);
  assert.equal(rib.get(key)?.best?.source, A);
  assert.ok(rib.withdraw(A, key, 0) !== null);
  assert.equal(rib.get(key), undefined);
  assert.equal(rib.withdraw(A, key, 0), null, 'withdrawing twice is harmless');
});

test('ADD-PATH keeps several paths from one peer apart', () => {
  const rib = new LocRib(table);
  const key = keyFromString('203.0.113.0/24');
  rib.announce(A, key, 1, table.intern(base));
  rib.announce(A, key, 2, table.intern({ ...base, nextHop: '192.0.2.77' }));
  assert.equal(rib.get(key)?.paths.length, 2);
  assert.equal(rib.countFrom(A), 2);
  rib.withdraw(A, key, 1);
  assert.equal(rib.get(key)?.paths.length, 1);
  assert.equal(rib.get(key)?.best?.attrs.nextHops[0], '192.0.2.77');
});

test('graceful restart: stale routes stay until swept, refreshed ones survive the sweep', () => {
  const rib = new LocRib(table);
  const k1 = keyFromString('10.0.1.0/24');
  const k2 = keyFromString('10.0.2.0/24');
  rib.announce(A, k1, 0, table.intern(base));
  rib.announce(A, k2, 0, table.intern(base));
  rib.markStale(A, 1);
  assert.equal(rib.get(k1)?.best?.stale, 1);
  rib.announce(A, k1, 0, table.intern(base)); // re-advertised after restart
  const swept = rib.sweepStale(A);
  assert.equal(swept.length, 1);
  assert.ok(rib.get(k1) !== undefined && rib.get(k2) === undefined);
});

test('long-lived stale routes lose to any fresh route', () => {
  const rib = new LocRib(table);
  const key = keyFromString('10.0.3.0/24');
  rib.announce(A, key, 0, table.intern({ ...base, localPref: 500 }));
  rib.announce(B, key, 0, table.intern(base));
  assert.equal(rib.get(key)?.best?.source, A);
  rib.markStale(A, 2);
  assert.equal(rib.get(key)?.best?.source, B);
});

test('interned attribute sets are shared and released with their last route', () => {
  const t = new AttrTable();
  const rib = new LocRib(t);
  for (let i = 0; i < 100; i++) rib.announce(A, keyFromString(`10.9.${i}.0/24`), 0, t.intern(base));
  assert.equal(t.size, 1);
  rib.removeSource(A);
  assert.equal(t.size, 0);
});

test('prefix keys round-trip for both families', () => {
  for (const p of ['0.0.0.0/0', '255.255.255.255/32', '10.1.2.64/26', '2001:db8::/32', '::/0']) assert.equal(keyToString(keyFromString(p)), p);
});
