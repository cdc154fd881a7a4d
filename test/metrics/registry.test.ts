import { test } from 'node:test';
import assert from 'node:assert/strict';
import { counter, gauge, metricsRegistry, resetMetricsRegistry } from '../../src/metrics/registry.js';
import { parseMetrics } from '../support/prometheus.js';

test('asking twice for a metric by name gives the same instrument, and it shows in the exposition', async () => {
  resetMetricsRegistry();
  const a = counter({ name: 'calico_bgpd_test_events_total', help: 'test', labelNames: ['kind'] });
  const b = counter({ name: 'calico_bgpd_test_events_total', help: 'test', labelNames: ['kind'] });
  assert.equal(a, b);
  a.inc({ kind: 'x' }, 2);
  gauge({ name: 'calico_bgpd_test_level', help: 'test', collect() { this.set(7); } });
  const samples = parseMetrics(await metricsRegistry().metrics());
  assert.deepEqual(samples.map((s) => [s.name, s.labels, s.value]), [
    ['calico_bgpd_test_events_total', { kind: 'x' }, 2],
    ['calico_bgpd_test_level', {}, 7],
  ]);
});

test('names must carry the calico_bgpd_ prefix, and counters end in _total', () => {
  resetMetricsRegistry();
  assert.throws(() => counter({ name: 'calico_bgpd_events', help: 'x' }), /_total/);
  assert.throws(() => gauge({ name: 'events', help: 'x' }), /calico_bgpd_/);
  gauge({ name: 'calico_bgpd_test_x', help: 'x' });
  assert.throws(() => counter({ name: 'calico_bgpd_test_x', help: 'x' }), /_total|another type/);
});
