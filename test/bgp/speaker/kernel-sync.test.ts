/**
 * KernelSync's graceful-restart purge: stale routes go only after the
 * routes learned before the last End-of-RIB are in the kernel (found by
 * test/cluster/mesh.test.ts's restart check: without this, a restarted node
 * deleted and re-added every learned route).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { Fib } from '../../../src/bgp/fib/fallback.js';
import type { KernelRoute, RouteFailure, SyncResult } from '../../../src/bgp/fib/kernel.js';
import type { LocRib } from '../../../src/bgp/rib/loc-rib.js';
import { keyFromString } from '../../../src/bgp/rib/prefix-key.js';
import { KernelSync } from '../../../src/bgp/speaker/kernel-sync.js';
import type { Clock } from '../../../src/bgp/session/clock.js';
import { block, family, nodeModel } from '../../support/model.js';

/** A kernel that records calls and, like KernelFib, purges what no sync installed. */
class FakeFib implements Fib {
  readonly available = true;
  readonly reason = null;
  calls: string[] = [];
  kernel = new Set(['198.51.100.0/27', '198.51.100.32/27']); // left by the previous run
  private installed = new Set<string>();
  staleCount(): number {
    return this.kernel.size;
  }
  async sync(routes: Iterable<KernelRoute>): Promise<SyncResult> {
    const list = [...routes].map((r) => r.prefix);
    this.calls.push(`sync ${list.join(',')}`);
    for (const p of list) {
      this.kernel.add(p);
      this.installed.add(p);
    }
    return { installed: list.length, removed: 0, unchanged: 0, failed: [] };
  }
  async update(routes: Iterable<KernelRoute>, removed: Iterable<string>): Promise<SyncResult> {
    const list = [...routes].map((r) => r.prefix);
    const gone = [...removed];
    this.calls.push(`update ${list.join(',')} -${gone.join(',')}`);
    for (const p of list) {
      this.kernel.add(p);
      this.installed.add(p);
    }
    for (const p of gone) {
      this.kernel.delete(p);
      this.installed.delete(p);
    }
    return { installed: list.length, removed: gone.length, unchanged: 0, failed: [] };
  }
  async purgeStale(): Promise<{ removed: string[]; failed: RouteFailure[] }> {
    const removed = [...this.kernel].filter((p) => !this.installed.has(p));
    this.calls.push(`purge ${removed.join(',')}`);
    for (const p of removed) this.kernel.delete(p);
    return { removed, failed: [] };
  }
  async close(): Promise<void> {}
}

/** A clock whose timers fire only when the test says so. */
function manualClock(): Clock & { fire(): void; pending(): number } {
  const timers = new Map<number, () => void>();
  let id = 0;
  return {
    now: () => 0,
    setTimeout: (fn) => (timers.set(++id, fn), id),
    clearTimeout: (h) => void timers.delete(h as number),
    fire: () => {
      const fns = [...timers.values()];
      timers.clear();
      fns.forEach((f) => f());
    },
    pending: () => timers.size,
  };
}

test('the graceful-restart purge installs routes still in the debounce first, so none is deleted and re-added', async () => {
  const fib = new FakeFib();
  const clock = manualClock();
  const learned = {
    key: keyFromString('198.51.100.32/27'),
    best: { source: {}, attrs: { nextHops: ['192.0.2.2'] }, next: null },
  };
  const rib = { destinations: () => [learned][Symbol.iterator]() } as unknown as LocRib;
  const model = nodeModel({ nodeName: 'n1', routerId: '192.0.2.1', ipv4: family({ address: '192.0.2.1', blocks: [block('198.51.100.0/27')] }) });
  const ks = new KernelSync(fib, () => rib, model, pino({ level: 'silent' }), { clock, purgeAfterSeconds: 120 });
  ks.start(); // schedules the first sync (debounce) and the purge timer
  ks.schedule(); // the learned route arrived before End-of-RIB
  ks.converged(); // every peer sent End-of-RIB while the sync still waits
  for (let i = 0; i < 10 && !fib.calls.some((c) => c.startsWith('purge')); i++) await new Promise((r) => setImmediate(r));
  assert.deepEqual(fib.calls, ['sync 198.51.100.0/27,198.51.100.32/27', 'purge ']);
  assert.deepEqual([...fib.kernel].sort(), ['198.51.100.0/27', '198.51.100.32/27']);
  await ks.close();
});
