/**
 * KernelSync's incremental path against the real kernel: a Loc-RIB of our
 * own, a KernelFib in a network namespace of the test's (see
 * ../fib/netns.ts), the debounce driven by hand, every result read back
 * with `ip -json route show`. Changed prefixes go to the kernel, unchanged
 * ones are not sent again (a route changed behind our back stays changed),
 * a model change recomputes everything, a refused route is tried again with
 * the next change.
 */
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { openKernelFib, type Fib } from '../../../src/bgp/fib/fallback.js';
import { RTPROT_CALICO_BGPD, type KernelRoute, type RouteFailure, type SyncResult } from '../../../src/bgp/fib/kernel.js';
import { loadNetlinkAddon } from '../../../src/bgp/fib/netlink-socket.js';
import { parseIpv4 } from '../../../src/bgp/packet/index.js';
import type { PathSource } from '../../../src/bgp/rib/best-path.js';
import { AttrTable } from '../../../src/bgp/rib/intern.js';
import { LocRib, type BestChange } from '../../../src/bgp/rib/loc-rib.js';
import { keyFromString, keyToString, type PrefixKey } from '../../../src/bgp/rib/prefix-key.js';
import type { Clock } from '../../../src/bgp/session/clock.js';
import { KernelSync } from '../../../src/bgp/speaker/kernel-sync.js';
import type { NodeBgpConfig } from '../../../src/model/types.js';
import { block, family, nodeModel, pool } from '../../support/model.js';
import { TestNs, netnsAvailable, type ShownRoute } from '../fib/netns.js';

const addon = loadNetlinkAddon();
const skip = !netnsAvailable() ? 'needs root and ip netns' : !addon.ok ? addon.reason : false;
const OURS = String(RTPROT_CALICO_BGPD);

/** The FIB the speaker would get, with a record of every sync and update it is asked for. */
class RecordingFib implements Fib {
  readonly available = true;
  readonly reason = null;
  calls: { kind: 'sync' | 'update'; routes: string[]; removed: string[] }[] = [];
  last: Promise<unknown> = Promise.resolve();
  constructor(private readonly inner: Fib) {}
  staleCount(): number {
    return this.inner.staleCount();
  }
  sync(routes: Iterable<KernelRoute>): Promise<SyncResult> {
    const list = [...routes];
    this.calls.push({ kind: 'sync', routes: list.map((r) => r.prefix), removed: [] });
    const p = this.inner.sync(list);
    this.last = p;
    return p;
  }
  update(routes: Iterable<KernelRoute>, removed: Iterable<string>): Promise<SyncResult> {
    const list = [...routes];
    const gone = [...removed];
    this.calls.push({ kind: 'update', routes: list.map((r) => r.prefix), removed: gone });
    const p = this.inner.update(list, gone);
    this.last = p;
    return p;
  }
  purgeStale(): Promise<{ removed: string[]; failed: RouteFailure[] }> {
    return this.inner.purgeStale();
  }
  close(opts?: { keepRoutes?: boolean }): Promise<void> {
    return this.inner.close(opts);
  }
}

/** Timers that fire only when the test says so; `fire(ms)` fires those set for at most `ms` (the debounce, not the purge). */
function manualClock(): Clock & { fire(upToMs: number): void } {
  const timers = new Map<number, { fn: () => void; ms: number }>();
  let id = 0;
  return {
    now: () => 0,
    setTimeout: (fn, ms) => (timers.set(++id, { fn, ms }), id),
    clearTimeout: (h) => void timers.delete(h as number),
    fire: (upToMs) => {
      for (const [k, t] of [...timers]) {
        if (t.ms > upToMs) continue;
        timers.delete(k);
        t.fn();
      }
    },
  };
}

const peerA: PathSource = { name: 'Mesh_192_0_2_2', address: '192.0.2.2', routerId: parseIpv4('192.0.2.2')!, peerType: 'internal', addressKey: parseIpv4('192.0.2.2')! };

/** This node: 192.0.2.1 in 192.0.2.0/24, block 198.51.100.0/26, the pool 198.51.100.0/24 IP-in-IP always through tunl0 (or without encapsulation). */
function model(over: { ipipMode?: 'always' | 'never'; blocks?: string[] } = {}): NodeBgpConfig {
  return nodeModel({
    nodeName: 'n1',
    routerId: '192.0.2.1',
    ipv4: family({
      address: '192.0.2.1',
      network: '192.0.2.0/24',
      pools: [over.ipipMode === 'never' ? pool('198.51.100.0/24') : { ...pool('198.51.100.0/24'), ipipMode: 'always', ipipInterface: 'tunl0' }],
      blocks: (over.blocks ?? ['198.51.100.0/26']).map((b) => block(b)),
    }),
    ipv6: family({ address: '2001:db8:1::1', network: '2001:db8:1::/64' }),
  });
}

/** A Loc-RIB fed by one peer; each call returns the keys whose best route changed, as the speaker hands them on. */
class Rib {
  readonly table = new AttrTable();
  readonly rib = new LocRib(this.table);
  announce(prefix: string, nextHop: string, med?: number): PrefixKey[] {
    const base = { origin: 0 as const, asPath: [], ...(med !== undefined ? { med } : {}) };
    const attrs = nextHop.includes(':') ? this.table.intern(base, [nextHop]) : this.table.intern({ ...base, nextHop });
    return keys([this.rib.announce(peerA, keyFromString(prefix), 0, attrs)]);
  }
  withdraw(prefix: string): PrefixKey[] {
    return keys([this.rib.withdraw(peerA, keyFromString(prefix), 0)]);
  }
}
function keys(changes: (BestChange | null)[]): PrefixKey[] {
  return changes.flatMap((c) => (c === null ? [] : [c.dest.key]));
}

const r = (dst: string, extra: Partial<ShownRoute> = {}): ShownRoute => ({ dst, protocol: OURS, metric: 20, flags: [], ...extra });
const tunnel = (dst: string, gateway: string): ShownRoute => r(dst, { gateway, dev: 'tunl0', flags: ['onlink'] });
const direct = (dst: string, gateway: string): ShownRoute => r(dst, { gateway, dev: 'veth0' });

let cleanup: (() => Promise<void>)[] = [];
async function teardown(): Promise<void> {
  const fns = cleanup.reverse();
  cleanup = [];
  for (const fn of fns) await fn().catch(() => undefined);
}

/** A node with four learned routes and a block, synced into a fresh namespace; `step()` fires the debounce and waits for the kernel call. */
async function started() {
  const ns = TestNs.create();
  cleanup.push(async () => ns.destroy());
  const fib = new RecordingFib(await openKernelFib({ netns: ns.path }));
  const clock = manualClock();
  const rib = new Rib();
  const ks = new KernelSync(fib, () => rib.rib, model(), pino({ level: 'silent' }), { clock, debounceMs: 50, purgeAfterSeconds: 120 });
  cleanup.push(() => ks.close());
  const step = async (): Promise<void> => {
    const before = fib.calls.length;
    clock.fire(1000);
    for (let i = 0; i < 100 && fib.calls.length === before; i++) await new Promise((res) => setImmediate(res));
    assert.equal(fib.calls.length, before + 1, 'one kernel call per debounce');
    await fib.last;
    for (let i = 0; i < 3; i++) await new Promise((res) => setImmediate(res));
  };
  const installed = () => [...ks.installed].map(keyToString).sort();
  rib.announce('198.51.100.64/26', '192.0.2.2');
  rib.announce('198.51.100.128/26', '192.0.2.3');
  rib.announce('198.51.100.160/27', '192.0.2.3');
  rib.announce('2001:db8:100::/64', '2001:db8:1::2');
  ks.start();
  await step();
  assert.equal(fib.calls.at(-1)?.kind, 'sync');
  assert.deepEqual(ns.routes(4), [
    r('198.51.100.0/26', { type: 'blackhole' }),
    tunnel('198.51.100.128/26', '192.0.2.3'),
    tunnel('198.51.100.160/27', '192.0.2.3'),
    tunnel('198.51.100.64/26', '192.0.2.2'),
  ]);
  assert.deepEqual(ns.routes(6), [r('2001:db8:100::/64', { gateway: '2001:db8:1::2', dev: 'veth0' })]);
  assert.deepEqual(installed(), ['198.51.100.0/26', '198.51.100.128/26', '198.51.100.160/27', '198.51.100.64/26', '2001:db8:100::/64']);
  // Changed behind our back: if kernel sync sent these routes again, ours would be back.
  ns.ip(['route', 'replace', '198.51.100.160/27', 'via', '192.0.2.9', 'proto', OURS, 'metric', '20']);
  ns.ip(['-6', 'route', 'replace', '2001:db8:100::/64', 'via', '2001:db8:1::9', 'proto', OURS, 'metric', '20']);
  return { ns, fib, clock, rib, ks, step, installed };
}

describe('kernel sync, incremental, against the kernel', { skip }, () => {
  afterEach(teardown);
  after(teardown);

  it('a burst of changes sends only the changed prefixes; the other routes are not sent again', async () => {
    const { ns, fib, clock, rib, ks, step, installed } = await started();
    // One next hop moves, one prefix goes, one comes, and a learned route for our own block (the blackhole wins).
    ks.schedule([
      ...rib.announce('198.51.100.64/26', '192.0.2.4'),
      ...rib.withdraw('198.51.100.128/26'),
      ...rib.announce('198.51.100.192/26', '192.0.2.2'),
      ...rib.announce('198.51.100.0/26', '192.0.2.5'),
    ]);
    await step();
    assert.deepEqual(fib.calls.at(-1), { kind: 'update', routes: ['198.51.100.64/26', '198.51.100.192/26', '198.51.100.0/26'], removed: ['198.51.100.128/26'] });
    assert.deepEqual(ns.routes(4), [
      r('198.51.100.0/26', { type: 'blackhole' }),
      direct('198.51.100.160/27', '192.0.2.9'),
      tunnel('198.51.100.192/26', '192.0.2.2'),
      tunnel('198.51.100.64/26', '192.0.2.4'),
    ]);
    assert.equal(ns.routes(6)[0]?.gateway, '2001:db8:1::9', 'an unchanged route is not sent again');
    assert.deepEqual(installed(), ['198.51.100.0/26', '198.51.100.160/27', '198.51.100.192/26', '198.51.100.64/26', '2001:db8:100::/64']);

    // A new best route with the same next hop leaves the kernel route as it is: nothing is sent. No change at all: no call.
    ks.schedule(rib.announce('198.51.100.160/27', '192.0.2.3', 10));
    await step();
    assert.deepEqual(fib.calls.at(-1), { kind: 'update', routes: ['198.51.100.160/27'], removed: [] });
    assert.equal(ns.routes(4)[1]?.gateway, '192.0.2.9');
    const calls = fib.calls.length;
    ks.schedule([]);
    clock.fire(1000);
    for (let i = 0; i < 5; i++) await new Promise((res) => setImmediate(res));
    assert.equal(fib.calls.length, calls);
  });

  it('a model change recomputes every route and sends those whose kernel route changed', async () => {
    const { ns, fib, rib, ks, step } = await started();
    ks.schedule(rib.announce('198.51.100.64/26', '192.0.2.4'));
    await step();
    // No more tunnel, one more block.
    ks.setModel(model({ ipipMode: 'never', blocks: ['198.51.100.0/26', '198.51.100.224/27'] }));
    await step();
    assert.equal(fib.calls.at(-1)?.kind, 'sync');
    assert.deepEqual(ns.routes(4), [
      r('198.51.100.0/26', { type: 'blackhole' }),
      direct('198.51.100.128/26', '192.0.2.3'),
      direct('198.51.100.160/27', '192.0.2.3'),
      r('198.51.100.224/27', { type: 'blackhole' }),
      direct('198.51.100.64/26', '192.0.2.4'),
    ]);
    assert.equal(ns.routes(6)[0]?.gateway, '2001:db8:1::9', 'its kernel route did not change, so it was not sent');
    // Back: the block goes, the tunnel returns.
    ks.setModel(model());
    await step();
    assert.deepEqual(ns.routes(4), [
      r('198.51.100.0/26', { type: 'blackhole' }),
      tunnel('198.51.100.128/26', '192.0.2.3'),
      tunnel('198.51.100.160/27', '192.0.2.3'),
      tunnel('198.51.100.64/26', '192.0.2.4'),
    ]);
  });

  it('a route the kernel refuses is not installed, and is sent again with the next change', async () => {
    const { ns, fib, rib, ks, step, installed } = await started();
    ks.schedule(rib.announce('2001:db8:200::/64', '2001:db8:9::9')); // on no link
    await step();
    assert.deepEqual(
      ns.routes(6).map((x) => x.dst),
      ['2001:db8:100::/64'],
    );
    assert.ok(!installed().includes('2001:db8:200::/64'));
    ns.ip(['-6', 'addr', 'add', '2001:db8:9::1/64', 'dev', 'veth0', 'nodad']);
    ks.schedule(rib.announce('2001:db8:300::/64', '2001:db8:1::3'));
    await step();
    assert.deepEqual(fib.calls.at(-1), { kind: 'update', routes: ['2001:db8:300::/64', '2001:db8:200::/64'], removed: [] });
    assert.deepEqual(
      ns.routes(6).map((x) => [x.dst, x.gateway]),
      [
        ['2001:db8:100::/64', '2001:db8:1::9'],
        ['2001:db8:200::/64', '2001:db8:9::9'],
        ['2001:db8:300::/64', '2001:db8:1::3'],
      ],
    );
    assert.ok(installed().includes('2001:db8:200::/64'));
  });
});
