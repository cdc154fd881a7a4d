import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PathAttributes } from '../../../src/bgp/packet/index.js';
import { AttrTable } from '../../../src/bgp/rib/intern.js';
import { keyFromString } from '../../../src/bgp/rib/prefix-key.js';
import { AdjRibOut } from '../../../src/bgp/speaker/adj-rib-out.js';

const attrs = (nextHop: string): PathAttributes => ({ origin: 0, asPath: [], nextHop, localPref: 100 });

test('the Adj-RIB-Out gives back the attribute set it was given, stored as an id or as the value', () => {
  const table = new AttrTable();
  const a = table.intern(attrs('192.0.2.1'));
  const b = table.intern(attrs('192.0.2.2'));
  const out = new AdjRibOut(table);
  const v4 = keyFromString('198.51.100.0/26');
  const host = keyFromString('198.51.100.7/32'); // not taggable: kept as a value
  const v6 = keyFromString('2001:db8:1::/122');
  out.set(v4, a);
  out.set(host, b);
  out.set(v6, a);
  assert.equal(out.get(v4), a);
  assert.equal(out.get(host), b);
  assert.equal(out.get(v6), a);
  // The same key moves between the two forms: ADD-PATH routes by path id, then one set again.
  const byId = new Map([[1, a], [2, b]]);
  out.set(v4, byId);
  assert.equal(out.get(v4), byId);
  out.set(v4, b);
  assert.equal(out.get(v4), b);
  const walked = new Map<string | number, unknown>();
  out.forEach((sent, key) => walked.set(key, sent));
  assert.deepEqual(walked, new Map<string | number, unknown>([[v4, b], [host, b], [v6, a]]));
  out.delete(v4);
  assert.equal(out.get(v4), undefined);
  assert.equal(out.size, 2);
});

test('an attribute set is found by id only while it is interned', () => {
  const table = new AttrTable();
  const a = table.intern(attrs('192.0.2.9'));
  assert.equal(table.byId(a.id), a);
  table.release(a);
  assert.throws(() => table.byId(a.id), /not interned/);
});
