/**
 * CI's short soak: two minutes of churn against both speakers (`npm run
 * soak` runs the same code, longer), and the trend verdict on samples made
 * up to grow and to stay flat. No timing assertions: the verdict depends on
 * growth across repeated churn, not on speed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSoak } from './soak.js';
import { judge, type Sample } from './trend.js';

function samples(n: number, rss: (i: number) => number, handles: (i: number) => number = () => 6): Sample[] {
  return Array.from({ length: n }, (_, i) => ({ t: i * 5, rssMb: rss(i), heapMb: 10, fds: 24, sockets: 6, handles: handles(i), timers: 0, established: 2, peers: 2 }));
}

test('the trend verdict fails a steady RSS climb and growing handles, and passes a flat run with noise', () => {
  assert.deepEqual(judge('flat', samples(360, (i) => 60 + (i % 7)), 30).failures, []);
  const climb = judge('climb', samples(360, (i) => 60 + i * 0.3), 30).failures;
  assert.ok(climb.some((f) => /RSS median grew/.test(f)) && climb.some((f) => /still rising/.test(f)), climb.join('\n'));
  assert.ok(judge('handles', samples(100, () => 60, (i) => 6 + i), 2).failures.some((f) => /active handles/.test(f)));
});

test('two minutes of flaps, resets, file and etcd churn: both speakers stay up, fds return to baseline, no growth', { timeout: 900_000 }, async () => {
  const r = await runSoak({ minutes: 2 });
  console.log(r.text);
  assert.ok(r.ok, r.text);
  assert.ok((r.steps['etcd kill/restart'] ?? 0) >= 1, 'an etcd restart happened');
  assert.ok((r.samples.file?.length ?? 0) >= 10 && (r.samples.etcd?.length ?? 0) >= 10, 'enough samples');
});
