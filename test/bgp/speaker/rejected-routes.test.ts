import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AttrTable } from '../../../src/bgp/rib/intern.js';
import { LocRib, pathsOf } from '../../../src/bgp/rib/loc-rib.js';
import type { PathSource } from '../../../src/bgp/rib/best-path.js';
import { keyFromString, type PrefixKey } from '../../../src/bgp/rib/prefix-key.js';
import { RejectedRoutes, importPolicyInputs, reapplyImportPolicy } from '../../../src/bgp/speaker/rejected-routes.js';
import { family, nodeModel, pool } from '../../support/model.js';

const A: PathSource = { name: 'a', address: '192.0.2.1', routerId: 1, peerType: 'internal', addressKey: 1 };
const B: PathSource = { name: 'b', address: '192.0.2.2', routerId: 2, peerType: 'internal', addressKey: 2 };
const P1 = keyFromString('198.51.100.0/26');
const P2 = keyFromString('203.0.113.0/26');
const attrs = { origin: 0 as const, asPath: [], nextHop: '192.0.2.9' };

/** A policy that rejects exactly the prefixes in `out`. */
const rejecting = (...out: PrefixKey[]) => (key: PrefixKey): string | undefined => (out.includes(key) ? 'test policy' : undefined);

test('routes move between the Loc-RIB and the kept rejects as the policy changes, and every reference is given back', () => {
  const table = new AttrTable();
  const rib = new LocRib(table);
  const kept = new RejectedRoutes(table);
  rib.announce(A, P1, 0, table.intern(attrs));
  kept.keep(B, P2, 0, table.intern(attrs));
  kept.keep(B, P2, 7, table.intern({ ...attrs, med: 5 }));

  // P1 now rejected, P2 accepted: both of B's paths for P2 enter, A's P1 leaves.
  const changes = reapplyImportPolicy(rib, kept, table, rejecting(P1));
  assert.deepEqual(changes.map((c) => c.dest.key).sort(), [P1, P2].sort());
  assert.equal(rib.get(P1), undefined);
  assert.deepEqual(pathsOf(rib.get(P2)!).map((p) => `${p.source?.name}#${p.pathId}`).sort(), ['b#0', 'b#7']);
  assert.equal(kept.countFrom(A), 1);
  assert.equal(kept.countFrom(B), 0);

  // The same policy again changes nothing.
  assert.deepEqual(reapplyImportPolicy(rib, kept, table, rejecting(P1)), []);

  kept.forget(A, P1, 0);
  rib.removeSources(new Set([A, B]));
  assert.equal(table.size, 0, 'no attribute reference left behind');
});

test('a stale route of a restarting peer that the policy now rejects is dropped, not kept', () => {
  const table = new AttrTable();
  const rib = new LocRib(table);
  const kept = new RejectedRoutes(table);
  rib.announce(A, P1, 0, table.intern(attrs));
  rib.markStale(A, 1);
  reapplyImportPolicy(rib, kept, table, rejecting(P1));
  assert.equal(rib.get(P1), undefined);
  assert.equal(kept.countFrom(A), 0);
  assert.equal(table.size, 0);
});

test('forgetting a source gives back every reference it held', () => {
  const table = new AttrTable();
  const kept = new RejectedRoutes(table);
  kept.keep(A, P1, 0, table.intern(attrs));
  kept.keep(A, P1, 0, table.intern({ ...attrs, med: 1 })); // a replacement releases the old one
  kept.keep(A, P2, 3, table.intern(attrs));
  assert.equal(kept.countFrom(A), 2);
  kept.forgetSource(A);
  assert.equal(kept.countFrom(A), 0);
  assert.equal(table.size, 0);
});

test('the import policy inputs change only with what the enabled filters read', () => {
  const m = (pools: string[], rejectCidrs: string[]) => nodeModel({ nodeName: 'n', routerId: '192.0.2.1', ipv4: family({ pools: pools.map((p) => pool(p)), rejectCidrs }) });
  const off = {};
  const on = { importOnlyPools: true, importRejectCidrs: true };
  assert.equal(importPolicyInputs(m(['198.51.100.0/24'], []), off), importPolicyInputs(m([], ['203.0.113.0/24']), off), 'filters off: nothing matters');
  assert.notEqual(importPolicyInputs(m(['198.51.100.0/24'], []), on), importPolicyInputs(m([], []), on));
  assert.notEqual(importPolicyInputs(m([], ['203.0.113.0/24']), on), importPolicyInputs(m([], []), on));
  assert.equal(importPolicyInputs(m(['198.51.100.0/24', '203.0.113.0/24'], []), on), importPolicyInputs(m(['203.0.113.0/24', '198.51.100.0/24'], []), on), 'order does not matter');
});
