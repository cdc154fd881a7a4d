import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileSelector, parseSelector, SelectorError } from '../../src/datastore/selector.js';

const rr = { routeReflector: 'true', zone: 'a', 'kubernetes.io/hostname': 'n1' };
const plain = { zone: 'b' };

function sel(src: string, labels: Record<string, string>): boolean {
  return compileSelector(src).matches(labels);
}

test('all() and the empty selector select everything', () => {
  assert.equal(sel('all()', {}), true);
  assert.equal(sel('', plain), true);
  assert.equal(sel('  ', plain), true);
});

test('has and !has test label presence', () => {
  assert.equal(sel('has(routeReflector)', rr), true);
  assert.equal(sel('has(routeReflector)', plain), false);
  assert.equal(sel('!has(routeReflector)', plain), true);
  assert.equal(sel('has(kubernetes.io/hostname)', rr), true);
});

test('equality takes single or double quotes, and != is true for an absent label', () => {
  assert.equal(sel("zone == 'a'", rr), true);
  assert.equal(sel('zone == "a"', plain), false);
  assert.equal(sel("zone != 'a'", plain), true);
  assert.equal(sel("missing != 'a'", plain), true);
  assert.equal(sel("missing == 'a'", plain), false);
});

test('in and not in test set membership', () => {
  assert.equal(sel("zone in {'a','c'}", rr), true);
  assert.equal(sel("zone in {'a', 'c'}", plain), false);
  assert.equal(sel("zone not in {'a'}", plain), true);
  assert.equal(sel("missing not in {'a'}", plain), true);
  assert.equal(sel("missing in {'a'}", plain), false);
  assert.equal(sel('zone in {}', plain), false);
});

test('&& binds tighter than ||, and parentheses override', () => {
  assert.equal(sel("zone == 'b' || has(routeReflector) && zone == 'x'", plain), true);
  assert.equal(sel("(zone == 'b' || has(routeReflector)) && zone == 'x'", plain), false);
  assert.equal(sel("!(zone == 'b')", plain), false);
  assert.equal(sel("!!has(zone)", plain), true);
});

test('contains, starts with and ends with match substrings', () => {
  assert.equal(sel("kubernetes.io/hostname contains '1'", rr), true);
  assert.equal(sel("kubernetes.io/hostname starts with 'n'", rr), true);
  assert.equal(sel("kubernetes.io/hostname ends with 'x'", rr), false);
});

test('malformed selectors raise SelectorError with a position', () => {
  for (const bad of ['has(', "zone = 'a'", "zone == a", "zone in {'a'", 'all() &&', "zone == 'a", '(has(x)', 'zone', '$$', 'has(x))']) {
    assert.throws(() => parseSelector(bad), (e: unknown) => e instanceof SelectorError && e.position >= 0, bad);
  }
});

test('random input either parses or throws SelectorError, nothing else', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 30 }), (s) => {
      try {
        const node = parseSelector(s);
        compileSelector(s).matches({ a: 'b' });
        return node !== undefined;
      } catch (e) {
        return e instanceof SelectorError;
      }
    }),
    { numRuns: 300 },
  );
});
