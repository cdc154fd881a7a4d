import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IdleHoldBackoff } from '../../../src/bgp/session/backoff.js';

test('a flapping peer waits twice as long after each flap, up to the cap', () => {
  const b = new IdleHoldBackoff({ initialSeconds: 5, maxSeconds: 30, stableSeconds: 60 }, () => 1);
  const waits = [0, 1, 2, 3, 4].map((i) => {
    b.up(i * 1000);
    return b.down(i * 1000 + 500);
  });
  assert.deepEqual(waits, [5, 10, 20, 30, 30]);
  assert.equal(b.consecutiveFlaps, 5);
});

test('a session that stayed up long enough starts the backoff again from the beginning', () => {
  const b = new IdleHoldBackoff({ initialSeconds: 5, maxSeconds: 30, stableSeconds: 60 }, () => 1);
  b.down(0);
  b.down(1000);
  b.up(2000);
  assert.equal(b.down(2000 + 61_000), 5);
});

test('jitter takes the wait down to 75% at most', () => {
  const b = new IdleHoldBackoff({ initialSeconds: 8, maxSeconds: 30, stableSeconds: 60 }, () => 0);
  assert.equal(b.down(0), 6);
});
