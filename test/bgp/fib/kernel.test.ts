/**
 * KernelFib against the real kernel, each test in its own network namespace
 * (see netns.ts), every result read back with `ip -json route show`.
 * Needs root and the netlink addon (scripts/build-native-netlink.sh).
 */
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KernelFib, KernelRouteError, RTPROT_CALICO_BGPD, type KernelRoute } from '../../../src/bgp/fib/kernel.js';
import { DisabledFib, openKernelFib } from '../../../src/bgp/fib/fallback.js';
import { loadNetlinkAddon, type NetlinkAddon } from '../../../src/bgp/fib/netlink-socket.js';
import { NLM_F_ACK, NLM_F_EXCL, NLM_F_REPLACE, decodeReplies } from '../../../src/bgp/fib/netlink-codec.js';
import { TestNs, netnsAvailable, type ShownRoute } from './netns.js';

const addon = loadNetlinkAddon();
const skip = !netnsAvailable() ? 'needs root and ip netns' : !addon.ok ? addon.reason : false;
const OURS = String(RTPROT_CALICO_BGPD);

/** Namespaces and FIBs of the running test, removed after it whatever happens. */
let open: { ns: TestNs[]; fibs: KernelFib[] } = { ns: [], fibs: [] };
async function setup(): Promise<{ ns: TestNs; fib: KernelFib }> {
  const ns = TestNs.create();
  open.ns.push(ns);
  const fib = await KernelFib.open({ netns: ns.path });
  open.fibs.push(fib);
  return { ns, fib };
}
async function reopen(ns: TestNs, opts: { batchSize?: number; addon?: NetlinkAddon } = {}): Promise<KernelFib> {
  const fib = await KernelFib.open({ netns: ns.path, ...opts });
  open.fibs.push(fib);
  return fib;
}
async function teardown(): Promise<void> {
  const { ns, fibs } = open;
  open = { ns: [], fibs: [] };
  for (const f of fibs) await f.close().catch(() => undefined);
  for (const n of ns) n.destroy();
}

const r = (dst: string, extra: Partial<ShownRoute> = {}): ShownRoute => ({ dst, protocol: OURS, metric: 20, flags: [], ...extra });

describe('kernel FIB over rtnetlink', { skip }, () => {
  afterEach(teardown);
  after(teardown);

  it('installs unicast, ECMP, onlink-through-tunl0 and blackhole routes, IPv4 and IPv6', async () => {
    const { ns, fib } = await setup();
    const result = await fib.sync([
      { prefix: '198.51.100.0/26', nextHops: [{ gateway: '192.0.2.2' }] },
      { prefix: '198.51.100.64/26', nextHops: [{ gateway: '192.0.2.3' }, { gateway: '192.0.2.2' }] },
      { prefix: '198.51.100.128/26', nextHops: [{ gateway: '192.0.2.99', ifname: 'tunl0', onlink: true }] },
      { prefix: '198.51.100.192/26', nextHops: [], blackhole: true },
      { prefix: '2001:db8:2::/64', nextHops: [{ gateway: '2001:db8:1::2' }] },
      { prefix: '2001:db8:3::/64', nextHops: [{ gateway: '2001:db8:1::2' }, { gateway: '2001:db8:1::3' }] },
      { prefix: '2001:db8:4::/64', nextHops: [], blackhole: true },
    ]);
    assert.deepEqual(result, { installed: 7, removed: 0, unchanged: 0, failed: [] });
    assert.deepEqual(ns.routes(4), [
      r('198.51.100.0/26', { gateway: '192.0.2.2', dev: 'veth0' }),
      r('198.51.100.128/26', { gateway: '192.0.2.99', dev: 'tunl0', flags: ['onlink'] }),
      r('198.51.100.192/26', { type: 'blackhole' }),
      r('198.51.100.64/26', {
        nexthops: [
          { gateway: '192.0.2.2', dev: 'veth0', flags: [] },
          { gateway: '192.0.2.3', dev: 'veth0', flags: [] },
        ],
      }),
    ]);
    const v6 = ns.routes(6).map(({ metric, ...rest }) => ({ ...rest, metric }));
    assert.deepEqual(
      v6.map((x) => ({ dst: x.dst, type: x.type, gateway: x.gateway, protocol: x.protocol, metric: x.metric, nexthops: x.nexthops?.map((h) => h.gateway) })),
      [
        { dst: '2001:db8:2::/64', type: undefined, gateway: '2001:db8:1::2', protocol: OURS, metric: 20, nexthops: undefined },
        { dst: '2001:db8:3::/64', type: undefined, gateway: undefined, protocol: OURS, metric: 20, nexthops: ['2001:db8:1::2', '2001:db8:1::3'] },
        { dst: '2001:db8:4::/64', type: 'blackhole', gateway: undefined, protocol: OURS, metric: 20, nexthops: undefined },
      ],
    );
    // Our own dump agrees with ip's.
    const dumped = await fib.dump();
    assert.deepEqual(dumped.map((d) => d.prefix).sort(), ['198.51.100.0/26', '198.51.100.128/26', '198.51.100.192/26', '198.51.100.64/26', '2001:db8:2::/64', '2001:db8:3::/64', '2001:db8:4::/64']);
    assert.deepEqual(dumped.find((d) => d.prefix === '198.51.100.128/26')?.nextHops, [{ gateway: '192.0.2.99', ifindex: Number(JSON.parse(ns.ip(['-json', 'link', 'show', 'tunl0']))[0].ifindex), ifname: 'tunl0', onlink: true }]);
  });

  it('replaces a route in place: one route per prefix, the new next hops', async () => {
    const { ns, fib } = await setup();
    await fib.install({ prefix: '198.51.100.0/26', nextHops: [{ gateway: '192.0.2.2' }] });
    await fib.install({ prefix: '198.51.100.0/26', nextHops: [{ gateway: '192.0.2.3' }, { gateway: '192.0.2.4' }] });
    await fib.install({ prefix: '2001:db8:2::/64', nextHops: [{ gateway: '2001:db8:1::2' }, { gateway: '2001:db8:1::3' }] });
    await fib.install({ prefix: '2001:db8:2::/64', nextHops: [{ gateway: '2001:db8:1::4' }] });
    await fib.install({ prefix: '198.51.100.64/26', nextHops: [{ gateway: '192.0.2.2' }] });
    await fib.install({ prefix: '198.51.100.64/26', nextHops: [], blackhole: true });
    assert.deepEqual(ns.routes(4), [
      r('198.51.100.0/26', {
        nexthops: [
          { gateway: '192.0.2.3', dev: 'veth0', flags: [] },
          { gateway: '192.0.2.4', dev: 'veth0', flags: [] },
        ],
      }),
      r('198.51.100.64/26', { type: 'blackhole' }),
    ]);
    const v6 = ns.routes(6);
    assert.equal(v6.length, 1);
    assert.equal(v6[0]?.gateway, '2001:db8:1::4');
    assert.equal(v6[0]?.nexthops, undefined);
  });

  it('sync installs new routes, changes changed ones, removes gone ones and leaves the rest', async () => {
    const { ns, fib } = await setup();
    const a: KernelRoute = { prefix: '198.51.100.0/26', nextHops: [{ gateway: '192.0.2.2' }] };
    const b: KernelRoute = { prefix: '198.51.100.64/26', nextHops: [{ gateway: '192.0.2.2' }] };
    const c: KernelRoute = { prefix: '2001:db8:2::/64', nextHops: [{ gateway: '2001:db8:1::2' }] };
    assert.deepEqual(await fib.sync([a, b, c]), { installed: 3, removed: 0, unchanged: 0, failed: [] });
    assert.deepEqual(await fib.sync([a, b, c]), { installed: 0, removed: 0, unchanged: 3, failed: [] });
    // Same route written differently: host bits, next-hop order. Still unchanged.
    assert.deepEqual(await fib.sync([{ prefix: '198.51.100.1/26', nextHops: [{ gateway: '192.0.2.2' }] }, b, c]), { installed: 0, removed: 0, unchanged: 3, failed: [] });
    const b2: KernelRoute = { prefix: b.prefix, nextHops: [{ gateway: '192.0.2.5' }] };
    assert.deepEqual(await fib.sync([b2, c]), { installed: 1, removed: 1, unchanged: 1, failed: [] });
    assert.deepEqual(ns.routes(4), [r('198.51.100.64/26', { gateway: '192.0.2.5', dev: 'veth0' })]);
    assert.deepEqual(await fib.sync([]), { installed: 0, removed: 2, unchanged: 0, failed: [] });
    assert.deepEqual([...ns.routes(4), ...ns.routes(6)], []);
  });

  it('removing a route that is not there counts as done', async () => {
    const { ns, fib } = await setup();
    await fib.install({ prefix: '198.51.100.0/26', nextHops: [{ gateway: '192.0.2.2' }] });
    await fib.remove('198.51.100.0/26');
    await fib.remove('198.51.100.0/26');
    await fib.remove('2001:db8:9::/64');
    assert.deepEqual(ns.routes(4), []);
  });

  it('never touches routes of other protocols, even for the same prefix', async () => {
    const { ns, fib } = await setup();
    ns.ip(['route', 'add', '198.51.100.0/26', 'via', '192.0.2.9', 'proto', 'static', 'metric', '20']);
    ns.ip(['route', 'add', '198.51.100.64/26', 'via', '192.0.2.9', 'proto', 'bird']);
    ns.ip(['-6', 'route', 'add', '2001:db8:2::/64', 'via', '2001:db8:1::9', 'proto', 'static', 'metric', '20']);
    // Same prefix and metric as a static route: refused with EEXIST, the static route stays.
    const res = await fib.sync([
      { prefix: '198.51.100.0/26', nextHops: [{ gateway: '192.0.2.2' }] },
      { prefix: '198.51.100.64/26', nextHops: [{ gateway: '192.0.2.2' }] },
      { prefix: '2001:db8:2::/64', nextHops: [{ gateway: '2001:db8:1::2' }] },
    ]);
    assert.deepEqual(
      res.failed.map((f) => [f.prefix, f.code]),
      [
        ['198.51.100.0/26', 'EEXIST'],
        ['2001:db8:2::/64', 'EEXIST'],
      ],
    );
    assert.match(res.failed[0]!.message, /another protocol/);
    assert.equal(res.installed, 1);
    // Same prefix, other metric (bird's 0): both live side by side.
    assert.deepEqual(ns.routes(4), [
      { dst: '198.51.100.0/26', gateway: '192.0.2.9', dev: 'veth0', protocol: 'static', metric: 20, flags: [] },
      { dst: '198.51.100.64/26', gateway: '192.0.2.9', dev: 'veth0', protocol: 'bird', flags: [] },
      r('198.51.100.64/26', { gateway: '192.0.2.2', dev: 'veth0' }),
    ]);
    // Removing ours and purging leave the others alone.
    await fib.remove('198.51.100.0/26');
    await fib.sync([]);
    await fib.purgeStale();
    assert.deepEqual(
      ns.routes(4).map((x) => [x.dst, x.protocol]),
      [
        ['198.51.100.0/26', 'static'],
        ['198.51.100.64/26', 'bird'],
      ],
    );
    assert.deepEqual(
      ns.routes(6).map((x) => [x.dst, x.protocol]),
      [['2001:db8:2::/64', 'static']],
    );
  });

  it('after a restart, stale routes keep forwarding until purgeStale, which removes only ours that are no longer wanted', async () => {
    const { ns, fib } = await setup();
    await fib.sync([
      { prefix: '198.51.100.0/26', nextHops: [{ gateway: '192.0.2.2' }] },
      { prefix: '198.51.100.64/26', nextHops: [{ gateway: '192.0.2.2' }] },
      { prefix: '198.51.100.128/26', nextHops: [], blackhole: true },
      { prefix: '2001:db8:2::/64', nextHops: [{ gateway: '2001:db8:1::2' }] },
    ]);
    await fib.close(); // keepRoutes by default, like BIRD's `persist`
    ns.ip(['route', 'add', '198.51.100.192/26', 'via', '192.0.2.9', 'proto', 'static']);
    // A stale route of ours at another metric (an older configuration).
    ns.ip(['route', 'add', '198.51.100.0/26', 'via', '192.0.2.7', 'proto', OURS, 'metric', '50']);
    assert.equal(ns.count(OURS), 5);

    const next = await reopen(ns);
    assert.equal(next.staleCount(), 4); // prefixes
    // The new run re-learns two of them, one with a new next hop.
    const res = await next.sync([
      { prefix: '198.51.100.0/26', nextHops: [{ gateway: '192.0.2.2' }] },
      { prefix: '198.51.100.64/26', nextHops: [{ gateway: '192.0.2.3' }] },
    ]);
    assert.deepEqual(res, { installed: 2, removed: 0, unchanged: 0, failed: [] });
    assert.equal(ns.count(OURS), 5, 'nothing is removed before purgeStale');

    const purged = await next.purgeStale();
    assert.deepEqual(purged.failed, []);
    assert.deepEqual(purged.removed.sort(), ['198.51.100.0/26', '198.51.100.128/26', '2001:db8:2::/64']);
    assert.deepEqual(ns.routes(4), [
      r('198.51.100.0/26', { gateway: '192.0.2.2', dev: 'veth0' }),
      { dst: '198.51.100.192/26', gateway: '192.0.2.9', dev: 'veth0', protocol: 'static', flags: [] },
      r('198.51.100.64/26', { gateway: '192.0.2.3', dev: 'veth0' }),
    ]);
    assert.deepEqual(ns.routes(6), []);
    assert.equal(next.staleCount(), 0);
  });

  it('close keeps routes by default and removes them with keepRoutes: false', async () => {
    const { ns, fib } = await setup();
    await fib.install({ prefix: '198.51.100.0/26', nextHops: [{ gateway: '192.0.2.2' }] });
    await fib.close();
    assert.equal(ns.count(OURS), 1);
    const next = await reopen(ns);
    await next.install({ prefix: '198.51.100.0/26', nextHops: [{ gateway: '192.0.2.2' }] });
    await next.install({ prefix: '2001:db8:2::/64', nextHops: [], blackhole: true });
    await next.close({ keepRoutes: false });
    assert.equal(ns.count(OURS), 0);
  });

  it('reports one bad route without failing the others', async () => {
    const { ns, fib } = await setup();
    const res = await fib.sync([
      { prefix: '198.51.100.0/26', nextHops: [{ gateway: '192.0.2.2' }] },
      { prefix: '198.51.100.64/26', nextHops: [{ gateway: '203.0.113.5' }] }, // not on any link, not onlink
      { prefix: '198.51.100.128/26', nextHops: [{ gateway: '192.0.2.2', ifname: 'nosuch0' }] },
      { prefix: '198.51.100.192/26', nextHops: [{ gateway: '2001:db8:1::2' }] },
      { prefix: '2001:db8:2::/64', nextHops: [{ gateway: '2001:db8:1::2' }] },
    ]);
    assert.equal(res.installed, 2);
    assert.deepEqual(
      res.failed.map((f) => [f.prefix, f.code]).sort(),
      [
        ['198.51.100.128/26', 'ENODEV'],
        ['198.51.100.192/26', 'EBADROUTE'],
        ['198.51.100.64/26', 'ENETUNREACH'],
      ],
    );
    assert.match(res.failed.find((f) => f.code === 'ENETUNREACH')!.message, /gateway/i);
    await assert.rejects(fib.install({ prefix: '198.51.100.64/26', nextHops: [{ gateway: '203.0.113.5' }] }), KernelRouteError);
    assert.deepEqual(
      ns.routes(4).map((x) => x.dst),
      ['198.51.100.0/26'],
    );
    // A failed route is retried by the next sync.
    ns.ip(['link', 'add', 'nosuch0', 'type', 'veth', 'peer', 'name', 'nosuch0p']);
    ns.ip(['link', 'set', 'nosuch0', 'up']);
    ns.ip(['link', 'set', 'nosuch0p', 'up']);
    ns.ip(['addr', 'add', '192.0.2.254/32', 'dev', 'nosuch0']);
    const again = await fib.sync([
      { prefix: '198.51.100.0/26', nextHops: [{ gateway: '192.0.2.2' }] },
      { prefix: '198.51.100.128/26', nextHops: [{ gateway: '192.0.2.2', ifname: 'nosuch0', onlink: true }] },
      { prefix: '2001:db8:2::/64', nextHops: [{ gateway: '2001:db8:1::2' }] },
    ]);
    assert.deepEqual(again, { installed: 1, removed: 0, unchanged: 2, failed: [] });
  });

  it('follows an interface that is deleted and created again (new index)', async () => {
    const { ns, fib } = await setup();
    await fib.install({ prefix: '198.51.100.0/26', nextHops: [{ gateway: '192.0.2.99', ifname: 'tunl0', onlink: true }] });
    ns.ip(['link', 'del', 'tunl0']);
    ns.ip(['link', 'add', 'tunl0', 'type', 'veth', 'peer', 'name', 'tunl0p']);
    ns.ip(['link', 'set', 'tunl0', 'up']);
    ns.ip(['link', 'set', 'tunl0p', 'up']);
    await fib.install({ prefix: '198.51.100.64/26', nextHops: [{ gateway: '192.0.2.99', ifname: 'tunl0', onlink: true }] });
    assert.deepEqual(ns.routes(4), [r('198.51.100.64/26', { gateway: '192.0.2.99', dev: 'tunl0', flags: ['onlink'] })]);
  });

  it('installs and removes 5,000 routes in batches', async () => {
    const { ns, fib } = await setup();
    const routes: KernelRoute[] = [];
    for (let i = 0; i < 5000; i++) routes.push({ prefix: `2001:db8:${((i >> 8) + 0x100).toString(16)}:${((i & 0xff) * 256).toString(16)}::/64`, nextHops: [{ gateway: '2001:db8:1::2' }] });
    assert.deepEqual(await fib.sync(routes), { installed: 5000, removed: 0, unchanged: 0, failed: [] });
    assert.equal(ns.count(OURS), 5000);
    assert.deepEqual(await fib.sync([]), { installed: 0, removed: 5000, unchanged: 0, failed: [] });
    assert.equal(ns.count(OURS), 0);
  });

  it('opens in this process namespace when no netns is given', async () => {
    // Read-only: a dump of our protocol in the test's own namespace must work (and find nothing of a test's).
    const fib = await KernelFib.open();
    open.fibs.push(fib);
    assert.ok(Array.isArray(await fib.dump()));
  });
});

/** The route requests of each exchange, as [prefix, nlmsg flags]. */
type Sent = [string, number][][];

/** The real addon, with a look at every route request sent and a say in what each exchange returns. */
function watchedAddon(sent: Sent, reply: (n: number, real: () => Promise<Buffer>) => Promise<Buffer> = (_n, real) => real()): NetlinkAddon {
  const real = addon.ok ? addon.addon : (null as never);
  let n = 0;
  return {
    open: (netns, bytes) => real.open(netns, bytes),
    close: (fd) => real.close(fd),
    exchange: (fd, request, lastSeq, timeoutMs) => {
      const routes = decodeReplies(request).flatMap((m) => (m.kind === 'route' ? [[`${m.route.dst}/${m.route.dstLen}`, m.header.flags] as [string, number]] : []));
      if (routes.length === 0) return real.exchange(fd, request, lastSeq, timeoutMs);
      sent.push(routes);
      return reply(n++, () => real.exchange(fd, request, lastSeq, timeoutMs));
    },
  };
}

/** The i-th /32 of 198.51.100.0/24, then of 192.0.2.0/24 (test prefixes beyond 256 routes). */
function host(i: number): string {
  return i < 256 ? `198.51.100.${i}/32` : `192.0.2.${i - 256}/32`;
}

describe('kernel FIB: changes and batches', { skip }, () => {
  afterEach(teardown);
  after(teardown);

  it('update installs and changes only the routes it is given, removes ours for the prefixes it names, and leaves everything else', async () => {
    const { ns, fib } = await setup();
    const a: KernelRoute = { prefix: '198.51.100.0/26', nextHops: [{ gateway: '192.0.2.2' }] };
    const b: KernelRoute = { prefix: '198.51.100.64/26', nextHops: [{ gateway: '192.0.2.2' }] };
    const c: KernelRoute = { prefix: '2001:db8:2::/64', nextHops: [{ gateway: '2001:db8:1::2' }] };
    await fib.sync([a, b, c]);
    ns.ip(['route', 'add', '198.51.100.128/26', 'via', '192.0.2.9', 'proto', 'static', 'metric', '20']);
    const res = await fib.update(
      [
        { prefix: b.prefix, nextHops: [{ gateway: '192.0.2.3' }] },
        { prefix: '198.51.100.192/26', nextHops: [], blackhole: true },
      ],
      ['2001:db8:2::/64', '198.51.100.128/26', '2001:db8:9::/64'],
    );
    assert.deepEqual(res, { installed: 2, removed: 1, unchanged: 0, failed: [] });
    assert.deepEqual(ns.routes(4), [
      r('198.51.100.0/26', { gateway: '192.0.2.2', dev: 'veth0' }),
      { dst: '198.51.100.128/26', gateway: '192.0.2.9', dev: 'veth0', protocol: 'static', metric: 20, flags: [] },
      r('198.51.100.192/26', { type: 'blackhole' }),
      r('198.51.100.64/26', { gateway: '192.0.2.3', dev: 'veth0' }),
    ]);
    assert.deepEqual(ns.routes(6), []);
    assert.deepEqual(await fib.update([a], []), { installed: 0, removed: 0, unchanged: 1, failed: [] });
    assert.deepEqual(fib.installedPrefixes().sort(), ['198.51.100.0/26', '198.51.100.192/26', '198.51.100.64/26']);
  });

  it('a route that did not change is not sent again, by sync or update; install sends it anyway', async () => {
    const { ns, fib } = await setup();
    const a: KernelRoute = { prefix: '198.51.100.0/26', nextHops: [{ gateway: '192.0.2.2', ifname: 'tunl0', onlink: true }] };
    const b: KernelRoute = { prefix: '198.51.100.64/26', nextHops: [{ gateway: '192.0.2.2' }, { gateway: '192.0.2.3' }] };
    await fib.sync([a, b]);
    // Changed behind our back: a request for either route would put ours back.
    ns.ip(['route', 'replace', a.prefix, 'via', '192.0.2.9', 'proto', OURS, 'metric', '20']);
    ns.ip(['route', 'replace', b.prefix, 'via', '192.0.2.9', 'proto', OURS, 'metric', '20']);
    assert.deepEqual(await fib.sync([{ ...a, nextHops: [{ ...a.nextHops[0]! }] }, { prefix: b.prefix, nextHops: [...b.nextHops].reverse() }]), { installed: 0, removed: 0, unchanged: 2, failed: [] });
    assert.deepEqual(await fib.update([a, b], []), { installed: 0, removed: 0, unchanged: 2, failed: [] });
    assert.deepEqual(
      ns.routes(4).map((x) => [x.dst, x.gateway]),
      [
        ['198.51.100.0/26', '192.0.2.9'],
        ['198.51.100.64/26', '192.0.2.9'],
      ],
    );
    await fib.install(a);
    assert.deepEqual(ns.routes(4)[0], r('198.51.100.0/26', { gateway: '192.0.2.2', dev: 'tunl0', flags: ['onlink'] }));
  });

  it('reports each failure inside big batches, the last request of a batch included; only that last request asks for an ACK', async () => {
    const ns = TestNs.create();
    open.ns.push(ns);
    const sent: Sent = [];
    const fib = await reopen(ns, { batchSize: 100, addon: watchedAddon(sent) });
    const bad = new Set([0, 37, 99, 100, 199, 250, 301, 399]); // 99, 199, 399: the last of their batch; 0, 100: the first
    const routes: KernelRoute[] = [];
    for (let i = 0; i < 400; i++) routes.push({ prefix: host(i), nextHops: [{ gateway: bad.has(i) ? '203.0.113.5' : '192.0.2.2' }] });
    const res = await fib.sync(routes);
    assert.equal(res.installed, 400 - bad.size);
    assert.deepEqual(
      res.failed.map((f) => [f.prefix, f.op, f.code]).sort(),
      [...bad].map((i) => [host(i), 'install', 'ENETUNREACH']).sort(),
    );
    assert.equal(ns.count(OURS), 400 - bad.size);
    assert.deepEqual(
      sent.map((batch) => batch.length),
      [100, 100, 100, 100],
    );
    for (const batch of sent) {
      assert.deepEqual(
        batch.map(([, flags]) => (flags & NLM_F_ACK) !== 0),
        batch.map((_, j) => j === batch.length - 1),
      );
    }
    // Failed routes are sent again by the next sync, the rest are not.
    sent.length = 0;
    const again = await fib.sync(routes.map((x, i) => (bad.has(i) ? { prefix: x.prefix, nextHops: [{ gateway: '192.0.2.3' }] } : x)));
    assert.deepEqual(again, { installed: bad.size, removed: 0, unchanged: 400 - bad.size, failed: [] });
    assert.deepEqual(sent.flat().map(([p]) => p).sort(), [...bad].map(host).sort());
    // Removing them all: every request answered or silent, none lost.
    assert.deepEqual(await fib.sync([]), { installed: 0, removed: 400, unchanged: 0, failed: [] });
    assert.equal(ns.count(OURS), 0);
  });

  it('a batch whose replies are lost (ENOBUFS) leaves its routes unknown, and the next sync puts them in again as replacements', async () => {
    const ns = TestNs.create();
    open.ns.push(ns);
    const sent: Sent = [];
    const lose = watchedAddon(sent, async (n, real) => {
      const raw = await real();
      if (n !== 1) return raw;
      throw Object.assign(new Error('recvfrom(netlink): No buffer space available'), { code: 'ENOBUFS', partial: raw.subarray(0, 0) });
    });
    const fib = await reopen(ns, { batchSize: 50, addon: lose });
    const routes: KernelRoute[] = [];
    for (let i = 0; i < 150; i++) routes.push({ prefix: host(i), nextHops: [{ gateway: '192.0.2.2' }] });
    const res = await fib.sync(routes);
    assert.equal(res.installed, 100);
    assert.deepEqual(
      res.failed.map((f) => [f.prefix, f.code]),
      routes.slice(50, 100).map((x) => [x.prefix, 'ENOBUFS']),
    );
    assert.equal(ns.count(OURS), 150, 'the kernel took them all; only the replies were lost');
    assert.deepEqual(fib.installedPrefixes().length, 100);
    sent.length = 0;
    assert.deepEqual(await fib.sync(routes), { installed: 50, removed: 0, unchanged: 100, failed: [] });
    assert.deepEqual(
      sent.flat().map(([p, flags]) => [p, (flags & NLM_F_REPLACE) !== 0 && (flags & NLM_F_EXCL) === 0]),
      routes.slice(50, 100).map((x) => [x.prefix, true]),
    );
    assert.equal(ns.count(OURS), 150);
  });

  it('a prefix given twice: the last route counts', async () => {
    const { ns, fib } = await setup();
    const res = await fib.sync([
      { prefix: '198.51.100.0/26', nextHops: [{ gateway: '192.0.2.2' }] },
      { prefix: '198.51.100.64/26', nextHops: [{ gateway: '192.0.2.2' }] },
      { prefix: '198.51.100.1/26', nextHops: [{ gateway: '192.0.2.3' }] },
    ]);
    assert.deepEqual(res.failed, []);
    assert.deepEqual(ns.routes(4), [r('198.51.100.0/26', { gateway: '192.0.2.3', dev: 'veth0' }), r('198.51.100.64/26', { gateway: '192.0.2.2', dev: 'veth0' })]);
    assert.deepEqual(await fib.sync([{ prefix: '198.51.100.0/26', nextHops: [{ gateway: '192.0.2.3' }] }]), { installed: 0, removed: 1, unchanged: 1, failed: [] });
  });
});

describe('kernel FIB without the addon', () => {
  it('the speaker gets a disabled FIB with the reason, not a crash', async () => {
    const saved = process.env.CALICO_BGPD_NETLINK_ADDON;
    process.env.CALICO_BGPD_NETLINK_ADDON = '/nonexistent/netlink.node';
    const logged: string[] = [];
    try {
      const fib = await openKernelFib({}, { error: (_o, m) => void logged.push(m), info: () => undefined });
      assert.ok(fib instanceof DisabledFib);
      assert.equal(fib.available, false);
      assert.match(fib.reason ?? '', /not built.*build-native-netlink/);
      assert.deepEqual(await fib.sync([{ prefix: '198.51.100.0/26', nextHops: [{ gateway: '192.0.2.2' }] }]), { installed: 0, removed: 0, unchanged: 0, failed: [] });
      await fib.purgeStale();
      await fib.close();
      assert.equal(logged.length, 1);
      assert.match(logged[0]!, /DISABLED/);
    } finally {
      if (saved === undefined) delete process.env.CALICO_BGPD_NETLINK_ADDON;
      else process.env.CALICO_BGPD_NETLINK_ADDON = saved;
    }
  });

  it('a namespace that does not exist gives a disabled FIB too', { skip: !addon.ok && addon.reason }, async () => {
    const fib = await openKernelFib({ netns: '/run/netns/cbfib-does-not-exist' });
    assert.equal(fib.available, false);
    assert.match(fib.reason ?? '', /network namespace/);
  });
});
