/**
 * The backoff and one list/watch loop on injected timers: the test decides
 * when each scheduled delay elapses, and reads the delays asked for.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Backoff, type Timers } from '../../src/datastore/backoff.js';
import { ListWatch } from '../../src/datastore/kubernetes-listwatch.js';
import { kubeConfigFromEnv, kubeConfigTransport } from '../../src/datastore/kubernetes-http.js';
import type { Resource } from '../../src/datastore/types.js';
import { FakeApiServer } from '../k8s-api-server/server.js';
import { shippedRbac } from '../k8s-api-server/rbac.js';
import { waitFor } from '../support/etcd.js';

test('backoff doubles from the initial delay up to the cap, with equal jitter, and resets', () => {
  const b = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0.5 });
  assert.deepEqual(
    Array.from({ length: 7 }, () => b.next()),
    [75, 150, 300, 600, 750, 750, 750],
  );
  b.reset();
  assert.equal(b.next(), 75);
  const lo = new Backoff({ initialMs: 100, random: () => 0 });
  const hi = new Backoff({ initialMs: 100, random: () => 0.999999 });
  assert.equal(lo.next(), 50, 'never less than half');
  assert.equal(hi.next(), 100, 'never more than the base');
});

/** Timers that fire only when the test says so. */
class ManualTimers implements Timers {
  private seq = 0;
  readonly pending = new Map<number, { fn: () => void; ms: number }>();
  clock = 0;
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.pending.set(id, { fn, ms });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.pending.delete(h as number);
  }
  now(): number {
    return this.clock;
  }
  delays(): number[] {
    return [...this.pending.values()].map((p) => p.ms);
  }
  /** Fires every pending timer with this delay. */
  fire(ms: number): void {
    for (const [id, p] of [...this.pending]) {
      if (p.ms !== ms) continue;
      this.pending.delete(id);
      this.clock += ms;
      p.fn();
    }
  }
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function loop(timers: ManualTimers, idleTimeoutMs = 60_000, requestTimeoutMs = 30_000) {
  const server = new FakeApiServer({ rbac: shippedRbac('calico-system') });
  const url = await server.start();
  cleanups.push(async () => {
    await server.stop();
    assert.deepEqual(server.denials, [], 'requests the shipped RBAC refused');
  });
  const held = new Map<string, Resource>();
  const synced: boolean[] = [];
  const lw = new ListWatch(
    kubeConfigTransport(kubeConfigFromEnv({ K8S_API_ENDPOINT: url })),
    { name: 'nodes', path: '/api/v1/nodes', apiVersion: 'v1', kind: 'Node' },
    {
      reset: (items) => {
        held.clear();
        for (const r of items) held.set(r.metadata.name, r);
      },
      event: (type, r) => (type === 'DELETED' ? held.delete(r.metadata.name) : held.set(r.metadata.name, r)),
      synced: (s) => synced.push(s),
      bad: () => {},
    },
    { timers, backoff: { initialMs: 100, maxMs: 400 }, random: () => 0.5, idleTimeoutMs, requestTimeoutMs, log: pino({ level: 'silent' }) },
  );
  cleanups.push(() => lw.stop());
  return { server, lw, held, synced };
}

test('failed lists are retried on the backoff schedule; the first success resets it', async () => {
  const timers = new ManualTimers();
  const { server, lw, held, synced } = await loop(timers);
  server.setAvailable(false);
  lw.start();
  const expected = [75, 150, 300, 300];
  for (const ms of expected) {
    await waitFor(() => timers.delays().includes(ms), `retry scheduled after ${ms} ms`);
    assert.equal(lw.watchState, 'backoff');
    timers.fire(ms);
  }
  await waitFor(() => timers.delays().includes(300), 'still capped');
  assert.deepEqual(synced, []);
  server.put('api/v1/nodes', { metadata: { name: 'n1' } });
  server.setAvailable(true);
  timers.fire(300);
  await waitFor(() => lw.watchState === 'watching' && held.has('n1'), 'listed and watching');
  assert.deepEqual(synced, [true]);
  // After a success the next failure starts from the initial delay again.
  await waitFor(() => server.openWatches === 1, 'watch open');
  server.dropConnections();
  await waitFor(() => timers.delays().includes(75), 'backoff reset');
  assert.deepEqual(synced, [true, false]);
});

test('a watch that stays silent past the idle timeout is dropped and relisted', async () => {
  const timers = new ManualTimers();
  const { server, lw, synced } = await loop(timers, 5_000);
  lw.start();
  await waitFor(() => server.openWatches === 1 && timers.delays().includes(5_000), 'watch open with idle timer');
  timers.fire(5_000);
  await waitFor(() => timers.delays().includes(75), 'relist scheduled');
  assert.deepEqual(synced, [true, false]);
  assert.equal(lw.stats.drops, 1);
  timers.fire(75);
  await waitFor(() => lw.stats.lists === 2 && synced.length === 3, 'relisted');
});

test('a LIST that never answers is abandoned after the request timeout and retried', async () => {
  const timers = new ManualTimers();
  const { server, lw, synced } = await loop(timers, 60_000, 7_000);
  server.stall('api/v1/nodes');
  lw.start();
  await waitFor(() => server.requests.length === 1 && timers.delays().includes(7_000), 'LIST pending with its deadline');
  server.allow('api/v1/nodes');
  timers.fire(7_000);
  await waitFor(() => timers.delays().includes(75), 'retry scheduled');
  assert.deepEqual(synced, [], 'never synced yet, so no transition');
  timers.fire(75);
  await waitFor(() => lw.watchState === 'watching', 'listed on retry');
  assert.deepEqual(synced, [true]);
});
