/** The mapping from best routes + the model to kernel routes, rule by rule (Calico's calico_kernel_programming). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { calicoKernelRoutes, calicoKernelRoutesForNode, type BestRoute } from '../../../src/bgp/fib/calico-routes.js';
import type { Pool } from '../../../src/model/types.js';
import { block, family, nodeModel, peer, pool } from '../../support/model.js';

const ipip = (cidr: string, mode: 'always' | 'cross-subnet'): Pool => ({ ...pool(cidr), ipipMode: mode, ipipInterface: 'tunl0' });
const vxlan = (cidr: string): Pool => ({ ...pool(cidr), vxlanMode: 'always' });

/** This node: 192.0.2.10 in 192.0.2.0/25; the other half of the /24 is another subnet. */
const v4 = family({
  address: '192.0.2.10',
  network: '192.0.2.0/25',
  pools: [ipip('198.51.100.0/26', 'always'), ipip('198.51.100.64/26', 'cross-subnet'), vxlan('198.51.100.128/27'), pool('198.51.100.160/27')],
  rejectCidrs: ['198.51.100.192/27'],
});

const best = (prefix: string, ...nextHops: string[]): BestRoute => ({ prefix, nextHops });

describe('calico kernel routes', () => {
  it('routes of an IP-in-IP pool go through tunl0, on-link, for every next hop', () => {
    const plan = calicoKernelRoutes(4, v4, [best('198.51.100.8/29', '192.0.2.20', '192.0.2.200')]);
    assert.deepEqual(plan.routes, [
      {
        prefix: '198.51.100.8/29',
        nextHops: [
          { gateway: '192.0.2.20', ifname: 'tunl0', onlink: true },
          { gateway: '192.0.2.200', ifname: 'tunl0', onlink: true },
        ],
      },
    ]);
  });

  it('cross-subnet goes direct to a next hop in this node network and through the tunnel otherwise', () => {
    const plan = calicoKernelRoutes(4, v4, [best('198.51.100.64/29', '192.0.2.20'), best('198.51.100.72/29', '192.0.2.200'), best('198.51.100.80/29', '192.0.2.21', '192.0.2.201')]);
    assert.deepEqual(plan.routes, [
      { prefix: '198.51.100.64/29', nextHops: [{ gateway: '192.0.2.20' }] },
      { prefix: '198.51.100.72/29', nextHops: [{ gateway: '192.0.2.200', ifname: 'tunl0', onlink: true }] },
      { prefix: '198.51.100.80/29', nextHops: [{ gateway: '192.0.2.21' }, { gateway: '192.0.2.201', ifname: 'tunl0', onlink: true }] },
    ]);
  });

  it('routes of a VXLAN pool are not installed, IPv4 or IPv6 (Felix programs them)', () => {
    const plan4 = calicoKernelRoutes(4, v4, [best('198.51.100.128/29', '192.0.2.20')]);
    assert.deepEqual(plan4.routes, []);
    assert.deepEqual(plan4.skipped, [{ prefix: '198.51.100.128/29', reason: 'vxlan-pool' }]);
    const v6 = family({ address: '2001:db8:1::10', pools: [vxlan('2001:db8:200::/48')] });
    assert.deepEqual(calicoKernelRoutes(6, v6, [best('2001:db8:200:1::/122', '2001:db8:1::20')]).routes, []);
  });

  it('routes of a pool without encapsulation, and outside every pool, go in as they are', () => {
    const plan = calicoKernelRoutes(4, v4, [best('198.51.100.160/29', '192.0.2.200'), best('198.51.100.240/28', '192.0.2.200')]);
    assert.deepEqual(plan.routes, [
      { prefix: '198.51.100.160/29', nextHops: [{ gateway: '192.0.2.200' }] },
      { prefix: '198.51.100.240/28', nextHops: [{ gateway: '192.0.2.200' }] },
    ]);
  });

  it('nothing inside a reject CIDR is programmed, learned or local', () => {
    const f = { ...v4, staticRoutes: ['198.51.100.200/32', '198.51.100.250/32'] };
    const plan = calicoKernelRoutes(4, f, [best('198.51.100.192/28', '192.0.2.20'), best('198.51.100.192/27', '192.0.2.20')]);
    assert.deepEqual(plan.routes, [{ prefix: '198.51.100.250/32', nextHops: [], blackhole: true }]);
    assert.deepEqual(
      plan.skipped.map((s) => [s.prefix, s.reason]),
      [
        ['198.51.100.200/32', 'reject-cidr'],
        ['198.51.100.192/28', 'reject-cidr'],
        ['198.51.100.192/27', 'reject-cidr'],
      ],
    );
  });

  it('local blocks get blackholes, pending ones too, but not host-length blocks nor blocks of VXLAN pools', () => {
    const f = { ...v4, blocks: [block('198.51.100.0/29'), block('198.51.100.16/29', 'pending'), block('198.51.100.8/32'), block('198.51.100.128/29')] };
    assert.deepEqual(calicoKernelRoutes(4, f, []).routes, [
      { prefix: '198.51.100.0/29', nextHops: [], blackhole: true },
      { prefix: '198.51.100.16/29', nextHops: [], blackhole: true },
    ]);
    const v6 = family({ address: '2001:db8:1::10', blocks: [block('2001:db8:100:1::/122'), block('2001:db8:100:2::1/128')] });
    assert.deepEqual(calicoKernelRoutes(6, v6, []).routes, [{ prefix: '2001:db8:100:1::/122', nextHops: [], blackhole: true }]);
  });

  it('a local route wins over a learned route for the same prefix', () => {
    const f = { ...v4, blocks: [block('198.51.100.0/29')] };
    const plan = calicoKernelRoutes(4, f, [best('198.51.100.0/29', '192.0.2.20'), best('198.51.100.1/32', '192.0.2.20')]);
    assert.deepEqual(plan.routes, [
      { prefix: '198.51.100.0/29', nextHops: [], blackhole: true },
      // A borrowed address inside our block stays more specific, through the tunnel.
      { prefix: '198.51.100.1/32', nextHops: [{ gateway: '192.0.2.20', ifname: 'tunl0', onlink: true }] },
    ]);
    assert.deepEqual(plan.skipped, [{ prefix: '198.51.100.0/29', reason: 'local-route' }]);
  });

  it('without a known node network the pool rules are skipped, as in Calico template', () => {
    const f = { ...v4, network: null };
    const plan = calicoKernelRoutes(4, f, [best('198.51.100.8/29', '192.0.2.200'), best('198.51.100.128/29', '192.0.2.200')]);
    assert.deepEqual(plan.routes, [
      { prefix: '198.51.100.8/29', nextHops: [{ gateway: '192.0.2.200' }] },
      { prefix: '198.51.100.128/29', nextHops: [{ gateway: '192.0.2.200' }] },
    ]);
  });

  it('the first pool in key order that holds the prefix decides', () => {
    const f = { ...v4, pools: [pool('198.51.100.0/25'), ipip('198.51.100.0/26', 'always')] };
    assert.deepEqual(calicoKernelRoutes(4, f, [best('198.51.100.8/29', '192.0.2.200')]).routes, [{ prefix: '198.51.100.8/29', nextHops: [{ gateway: '192.0.2.200' }] }]);
  });

  it('drops next hops that are this node, duplicates and other families; a route left without next hops is skipped', () => {
    const plan = calicoKernelRoutes(4, v4, [best('198.51.100.240/29', '192.0.2.10', '192.0.2.20', '192.0.2.20', '2001:db8:1::20'), best('198.51.100.248/29', '192.0.2.10'), best('2001:db8:100::/64', '2001:db8:1::20')]);
    assert.deepEqual(plan.routes, [{ prefix: '198.51.100.240/29', nextHops: [{ gateway: '192.0.2.20' }] }]);
    assert.deepEqual(
      plan.skipped.map((s) => [s.prefix, s.reason]),
      [
        ['198.51.100.248/29', 'no-next-hop'],
        ['2001:db8:100::/64', 'invalid'],
      ],
    );
  });

  it('a peer reachable only through a next hop gets a host route, as Calico static protocol gives it', () => {
    const f = { ...v4, peers: [peer({ name: 'Global_192_0_2_200', address: '192.0.2.200', type: 'global', reachableBy: '192.0.2.1' }), peer({ name: 'Mesh_192_0_2_201', address: '192.0.2.201', reachableBy: '192.0.2.1' })] };
    assert.deepEqual(calicoKernelRoutes(4, f, []).routes, [{ prefix: '192.0.2.200/32', nextHops: [{ gateway: '192.0.2.1' }] }]);
  });

  it('IPv6 has no IP-in-IP: pool routes go direct', () => {
    const v6 = family({ address: '2001:db8:1::10', network: '2001:db8:1::/64', pools: [{ ...pool('2001:db8:100::/48'), ipipMode: 'always', ipipInterface: 'tunl0' }] });
    assert.deepEqual(calicoKernelRoutes(6, v6, [best('2001:db8:100:5::/122', '2001:db8:2::20')]).routes, [{ prefix: '2001:db8:100:5::/122', nextHops: [{ gateway: '2001:db8:2::20' }] }]);
  });

  it('prefix containment holds at word and odd bit boundaries, both families, /0 included', () => {
    const v6 = family({ address: '2001:db8:1::10', pools: [vxlan('2001:db8:100::/40'), vxlan('2001:db8:1:2:3:4:5:0/113')] });
    const plan6 = calicoKernelRoutes(6, v6, [
      best('2001:db8:1ff:ffff::/64', '2001:db8:1::20'), // inside the /40 (bits 33-40 of 0x01ff match 0x0100's)
      best('2001:db8:200::/64', '2001:db8:1::20'), // just outside it
      best('2001:db8:100::/40', '2001:db8:1::20'), // the pool itself
      best('2001:db8:1:2:3:4:5:7fff/128', '2001:db8:1::20'), // inside the /113
      best('2001:db8:1:2:3:4:5:8000/128', '2001:db8:1::20'), // outside it
      best('2001:db8::/32', '2001:db8:1::20'), // wider than the pool: not inside
    ]);
    assert.deepEqual(
      plan6.skipped.map((x) => x.prefix),
      ['2001:db8:1ff:ffff::/64', '2001:db8:100::/40', '2001:db8:1:2:3:4:5:7fff/128'],
    );
    assert.deepEqual(
      plan6.routes.map((x) => x.prefix),
      ['2001:db8:200::/64', '2001:db8:1:2:3:4:5:8000/128', '2001:db8::/32'],
    );
    const all = calicoKernelRoutes(4, { ...v4, rejectCidrs: ['0.0.0.0/0'] }, [best('198.51.100.8/29', '192.0.2.20'), best('0.0.0.0/0', '192.0.2.20')]);
    assert.deepEqual(all.routes, []);
    assert.deepEqual(
      all.skipped.map((x) => x.reason),
      ['reject-cidr', 'reject-cidr'],
    );
    const odd = calicoKernelRoutes(4, { ...v4, pools: [vxlan('198.51.100.3/31')], rejectCidrs: [] }, [best('198.51.100.2/32', '192.0.2.20'), best('198.51.100.3/32', '192.0.2.20'), best('198.51.100.4/32', '192.0.2.20')]);
    assert.deepEqual(
      odd.routes.map((x) => x.prefix),
      ['198.51.100.4/32'],
    );
  });

  it('a whole node: both families from one list of best routes', () => {
    const m = nodeModel({
      nodeName: 'n1',
      routerId: '192.0.2.10',
      ipv4: { ...v4, blocks: [block('198.51.100.0/29')] },
      ipv6: family({ address: '2001:db8:1::10', blocks: [block('2001:db8:100:1::/122')] }),
    });
    const plan = calicoKernelRoutesForNode(m, [best('2001:db8:100:2::/122', '2001:db8:1::20'), best('198.51.100.160/29', '192.0.2.20')]);
    assert.deepEqual(
      plan.routes.map((r) => r.prefix),
      ['198.51.100.0/29', '198.51.100.160/29', '2001:db8:100:1::/122', '2001:db8:100:2::/122'],
    );
  });
});
