import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AttrTable } from '../../../src/bgp/rib/intern.js';
import { LocRib, multipathOf, pathsOf } from '../../../src/bgp/rib/loc-rib.js';
import { referenceBestPath } from '../../support/best-path-reference.js';
import { comparePaths, peerAddressKey, selectBest, type Path, type PathSource } from '../../../src/bgp/rib/best-path.js';
import fc from 'fast-check';
import { ipv4Key, ipv4KeyParts, keyFromString, keyToString } from '../../../src/bgp/rib/prefix-key.js';
import { parseIpv4, type PathAttributes } from '../../../src/bgp/packet/index.js';

const table = new AttrTable();
function peer(address: string, peerType: 'internal' | 'external' = 'internal', routerId = address): PathSource {
  return { name: address, address, routerId: parseIpv4(routerId)!, peerType, addressKey: peerAddressKey(address) };
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
  // Not compared: the lower router id of A decides, against B's lower MED.
  assert.deepEqual(comparePaths(a, b), { order: -1, step: 'routerId' });
  const c = path(B, { med: 60, asPath: [{ type: 2, asns: [65001, 65009] }, { type: 2, asns: [65010] }] });
  const d = path(A, { med: 70, asPath: [{ type: 2, asns: [65001, 65003, 65004] }] });
  // Same first AS: compared, whatever follows it.
  assert.deepEqual(comparePaths(c, d), { order: -1, step: 'med' });
});

test('a missing MED counts as 0, the best value', () => {
  assert.deepEqual(comparePaths(path(B), path(A, { med: 1 })), { order: -1, step: 'med' });
});

test('a path that begins with an AS_SET counts as from our own AS for MED', () => {
  const set = path(B, { med: 1, asPath: [{ type: 1, asns: [65001] }] });
  const seq = path(A, { med: 0, asPath: [{ type: 2, asns: [65001] }] });
  assert.notEqual(comparePaths(seq, set).step, 'med', 'AS_SET {65001} is not neighbor AS 65001');
  const otherSet = path(A, { med: 9, asPath: [{ type: 1, asns: [65002] }] });
  assert.deepEqual(comparePaths(set, otherSet), { order: -1, step: 'med' }, 'two AS_SET paths: both from our own AS');
});

test('MED across neighbor ASes: the winner does not depend on the order paths arrive in', () => {
  // X and Z share neighbor AS 65001, Z has the lower MED, so X is out
  // (RFC 4271 9.1.2.2 (c)); Y (AS 65002) and Z remain, and Y's lower router
  // id wins. Pairwise, X beats Y on router id and Z beats X on MED, so a
  // scan that keeps "the better of two" answers Z when X comes before Y.
  const X = path(peer('192.0.2.1'), { med: 10, asPath: [{ type: 2, asns: [65001] }] });
  const Y = path(peer('192.0.2.2'), { med: 0, asPath: [{ type: 2, asns: [65002] }] });
  const Z = path(peer('192.0.2.3'), { med: 5, asPath: [{ type: 2, asns: [65001] }] });
  const orders = [[X, Y, Z], [X, Z, Y], [Y, X, Z], [Y, Z, X], [Z, X, Y], [Z, Y, X]];
  for (const order of orders) {
    const sel = selectBest(order);
    assert.equal(sel.best, Y, `selectBest over ${order.map((p) => p.source?.name).join(', ')}`);
    assert.deepEqual(new Set(sel.multipath), new Set([Y, Z]), 'X lost on MED: not equal-cost');
    assert.equal(referenceBestPath(order).best, Y, 'the reference agrees');
    const rib = new LocRib(table);
    const key = keyFromString('10.9.0.0/24');
    for (const p of order) rib.announce(p.source, key, p.pathId, table.intern({ ...p.attrs.attrs }));
    const d = rib.get(key)!;
    assert.equal(d.best!.source, Y.source, `Loc-RIB fed ${order.map((p) => p.source?.name).join(', ')}`);
    assert.deepEqual(new Set(multipathOf(d).map((p) => p.source)), new Set([Y.source, Z.source]));
    rib.removeSources(new Set(order.map((p) => p.source)));
  }
});

test('the decision reports MED as the deciding step when the runner-up lost on it', () => {
  const X = path(peer('192.0.2.1'), { med: 10, asPath: [{ type: 2, asns: [65001] }] });
  const Z = path(peer('192.0.2.3'), { med: 5, asPath: [{ type: 2, asns: [65001] }] });
  assert.deepEqual(selectBest([X, Z]).step, 'med');
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
  assert.equal(pathsOf(rib.get(key)!).length, 2);
  assert.equal(rib.countFrom(A), 2);
  rib.withdraw(A, key, 1);
  assert.equal(pathsOf(rib.get(key)!).length, 1);
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

test('stale levels only rise one step: a second drop keeps long-lived stale paths last, the long-lived phase spares re-sent routes', () => {
  const rib = new LocRib(table);
  const key = keyFromString('10.0.4.0/24');
  const fresh = keyFromString('10.0.5.0/24');
  rib.announce(A, key, 0, table.intern({ ...base, localPref: 200 }));
  rib.announce(B, key, 0, table.intern(base));
  rib.markStale(A, 1);
  rib.markStale(A, 2);
  assert.equal(rib.get(key)?.best?.source, B, 'long-lived stale A loses');
  // A comes back, drops again before End-of-RIB: its path must stay long-lived stale.
  assert.deepEqual(rib.markStale(A, 1), []);
  assert.equal(rib.get(key)?.best?.source, B);
  assert.equal(selectBest(pathsOf(rib.get(key)!)).best?.source, B);
  // A re-sends one route, then its timer moves what is still stale on: the re-sent route stays fresh.
  rib.announce(A, fresh, 0, table.intern(base));
  rib.markStale(A, 2);
  assert.equal(rib.get(fresh)?.best?.stale, 0);
  rib.sweepStale(A);
  assert.equal(rib.get(fresh)?.best?.source, A, 'the re-sent route survives the sweep');
  assert.equal(rib.staleFrom(A), 0);
});

test('long-lived stale routes lose to any fresh route', () => {
  const rib = new LocRib(table);
  const key = keyFromString('10.0.3.0/24');
  rib.announce(A, key, 0, table.intern({ ...base, localPref: 500 }));
  rib.announce(B, key, 0, table.intern(base));
  assert.equal(rib.get(key)?.best?.source, A);
  rib.markStale(A, 1); // the session dropped: stale, still preferred
  assert.equal(rib.get(key)?.best?.source, A);
  rib.markStale(A, 2); // the restart time is over: long-lived stale
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

test('IPv4 keys: one per prefix, host bits ignored, small integers up to /30', () => {
  const mask = (addr: number, len: number): number => (len === 0 ? 0 : (addr & (0xffffffff << (32 - len))) >>> 0);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 }), (addr, len) => {
      const key = ipv4Key(addr, len);
      assert.deepEqual(ipv4KeyParts(key), { addr: mask(addr, len), len });
      assert.equal(key, ipv4Key(mask(addr, len), len));
      // Below 2^31: V8 keeps it as a small integer (Smi), not a heap number.
      if (len <= 30) assert.ok(Number.isInteger(key) && key < 2 ** 31);
    }),
    { seed: 6, numRuns: 20_000 },
  );
  // Distinct prefixes never share a key (every length, neighbouring addresses).
  const seen = new Map<number, string>();
  for (let len = 0; len <= 32; len++) {
    for (const base of [0, 0x0a000000, 0xfffffff0]) {
      for (let i = 0; i < 4; i++) {
        const addr = mask(base + i * 2 ** (32 - Math.max(len, 1)), len);
        const text = `${addr}/${len}`;
        const key = ipv4Key(addr, len);
        assert.ok(!seen.has(key) || seen.get(key) === text, `${text} and ${seen.get(key)} share key ${key}`);
        seen.set(key, text);
      }
    }
  }
});

test('the linked Loc-RIB agrees with a plain model under random changes', () => {
  // Sources, attributes and operations drawn at random; after every step each
  // destination's best path and multipath set must be what the independent
  // reference decision (test/support/best-path-reference.ts) picks from the
  // paths a plain model holds, and a change must be reported exactly when
  // either moved. The attributes mix neighbour ASes and MEDs, where MED
  // comparison is not transitive and arrival order must not matter.
  const sources = [
    peer('192.0.2.1'),
    peer('192.0.2.2'),
    peer('192.0.2.3', 'internal', '192.0.2.1'),
    peer('198.51.100.1', 'external'),
    peer('198.51.100.2', 'external'),
    peer('2001:db8::9', 'external', '192.0.2.77'),
    peer('2001:db8::10', 'external', '192.0.2.77'),
  ];
  const as = (...asns: number[]): Partial<PathAttributes> => ({ asPath: [{ type: 2, asns }] });
  const attrChoices: Partial<PathAttributes>[] = [
    {},
    { localPref: 200 },
    { med: 5 },
    { nextHop: '192.0.2.50' },
    { clusterList: ['1.1.1.1'] },
    { ...as(65002), med: 0 },
    { ...as(65002), med: 9 },
    { ...as(65001), med: 3 },
    { asPath: [{ type: 1, asns: [65001] }], med: 1 },
    { asPath: [], med: 2 },
    { asPath: [{ type: 3, asns: [64600] }, { type: 2, asns: [65002] }], med: 4 },
    { originatorId: '192.0.2.2', clusterList: ['1.1.1.1'] },
  ];
  const keys = [keyFromString('10.0.0.0/24'), keyFromString('10.0.1.0/24'), keyFromString('2001:db8::/48')];
  const op = fc.record({
    kind: fc.constantFrom('announce', 'announce', 'withdraw', 'stale1', 'stale2', 'sweep', 'down'),
    src: fc.integer({ min: -1, max: sources.length - 1 }),
    key: fc.integer({ min: 0, max: keys.length - 1 }),
    pathId: fc.integer({ min: 0, max: 1 }),
    attrs: fc.integer({ min: 0, max: attrChoices.length - 1 }),
  });
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const t = new AttrTable();
      const rib = new LocRib(t);
      type Entry = { source: PathSource | null; pathId: number; attrs: PathAttributes; stale: 0 | 1 | 2 };
      const model = new Map<(typeof keys)[number], Entry[]>(keys.map((k) => [k, []]));
      const view = (k: (typeof keys)[number]): { best: string | null; multi: string[] } => {
        const d = rib.get(k);
        const id = (p: { source: PathSource | null; pathId: number }): string => `${p.source?.name ?? 'local'}#${p.pathId}`;
        if (d === undefined) return { best: null, multi: [] };
        const sel = selectBest(pathsOf(d));
        assert.equal(sel.best, d.best, 'the best path is the head of the list');
        assert.deepEqual(multipathOf(d), sel.multipath, 'the multipath set is what selectBest picks');
        return { best: id(d.best!), multi: sel.multipath.map(id).sort() };
      };
      const expected = (k: (typeof keys)[number]): { best: string | null; multi: string[] } => {
        const entries = model.get(k)!;
        if (entries.length === 0) return { best: null, multi: [] };
        const paths: Path[] = entries.map((e) => ({ source: e.source, pathId: e.pathId, stale: e.stale, attrs: t.intern(e.attrs) }));
        const sel = referenceBestPath(paths);
        for (const p of paths) t.release(p.attrs);
        const id = (p: Path): string => `${p.source?.name ?? 'local'}#${p.pathId}`;
        return { best: id(sel.best!), multi: sel.multipath.map(id).sort() };
      };
      for (const o of ops) {
        const src = o.src < 0 ? null : sources[o.src]!;
        const key = keys[o.key]!;
        const before = keys.map(view);
        const changed = new Set<(typeof keys)[number]>();
        const note = (c: { dest: { key: (typeof keys)[number] } } | null): void => void (c !== null && changed.add(c.dest.key));
        const entries = model.get(key)!;
        const at = entries.findIndex((e) => e.source === src && e.pathId === o.pathId);
        if (o.kind === 'announce') {
          const attrs = { ...base, ...attrChoices[o.attrs]! };
          note(rib.announce(src, key, o.pathId, t.intern(attrs)));
          const e: Entry = { source: src, pathId: o.pathId, attrs, stale: 0 };
          if (at >= 0) entries[at] = e;
          else entries.push(e);
        } else if (o.kind === 'withdraw') {
          note(rib.withdraw(src, key, o.pathId));
          if (at >= 0) entries.splice(at, 1);
        } else if (src === null) {
          continue;
        } else if (o.kind === 'stale1' || o.kind === 'stale2') {
          const level = o.kind === 'stale1' ? 1 : 2;
          rib.markStale(src, level).forEach(note);
          for (const list of model.values()) for (const e of list) if (e.source === src && e.stale === level - 1) e.stale = level;
        } else {
          const gone = (e: Entry): boolean => e.source === src && (o.kind === 'down' || e.stale !== 0);
          (o.kind === 'down' ? rib.removeSource(src) : rib.sweepStale(src)).forEach(note);
          for (const [k, list] of model) model.set(k, list.filter((e) => !gone(e)));
        }
        keys.forEach((k, i) => {
          const now = view(k);
          assert.deepEqual(now, expected(k), `${o.kind}: state of ${keyToString(k)}`);
          const moved = now.best !== before[i]!.best || now.multi.join() !== before[i]!.multi.join();
          // A replaced path with new attributes is a change even under the same name.
          if (!moved && o.kind !== 'announce') assert.equal(changed.has(k), false, `${o.kind}: ${keyToString(k)} reported without a change`);
          if (moved) assert.ok(changed.has(k), `${o.kind}: ${keyToString(k)} changed but was not reported`);
        });
        const held = [...model.values()].reduce((n, l) => n + l.length, 0);
        assert.equal(sources.reduce((n, s) => n + rib.countFrom(s), rib.countFrom(null)), held, 'path counts');
        for (const s of sources) {
          const stale = [...model.values()].reduce((n, l) => n + l.filter((e) => e.source === s && e.stale !== 0).length, 0);
          assert.equal(rib.staleFrom(s), stale, `stale count of ${s.name}`);
        }
      }
      rib.removeSources(new Set([null, ...sources]));
      assert.equal(t.size, 0, 'every attribute reference released');
    }),
    { seed: 61, numRuns: 400 },
  );
});
