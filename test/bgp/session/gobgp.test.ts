/**
 * Sessions against a real GoBGP on loopback: we connect, they connect, both
 * at once; routes both ways for IPv4 and IPv6; a clean Cease with our
 * shutdown text.
 */
import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Gobgp } from '../../support/daemons/gobgp.js';
import { MiniSpeaker } from '../../support/mini-speaker.js';
import { cleanup, freePort, waitFor } from '../../support/process.js';
import type { NeighborConfig } from '../../../src/bgp/session/neighbor.js';

const US = '127.0.21.1';
const THEM = '127.0.21.2';
const AS = 64512;

let c = cleanup();
afterEach(async () => {
  await c.run();
  c = cleanup();
});

function ourConfig(gobgpPort: number, over: Partial<NeighborConfig> = {}): NeighborConfig {
  return {
    name: 'Mesh_127_0_21_2',
    address: THEM,
    port: gobgpPort,
    localAddress: US,
    passive: false,
    localAs: AS,
    peerAs: AS,
    routerId: US,
    holdTime: 9,
    connectRetryTime: 1,
    capabilities: [{ code: 1, afi: 1, safi: 1 }, { code: 1, afi: 2, safi: 1 }, { code: 2 }],
    idleHold: { initialSeconds: 0.2, maxSeconds: 2, stableSeconds: 60 },
    ...over,
  };
}

async function setup(opts: { weAre: 'active' | 'passive' | 'both' }): Promise<{ gobgp: Gobgp; us: MiniSpeaker }> {
  const gobgpPort = await freePort(THEM);
  const ourPort = await freePort(US);
  const us = new MiniSpeaker(ourConfig(gobgpPort, { passive: opts.weAre === 'passive' }));
  await us.listen(c, US, ourPort);
  const gobgp = await Gobgp.start(c, {
    as: AS, routerId: THEM, address: THEM, port: gobgpPort,
    neighbors: [{ address: US, peerAs: AS, remotePort: ourPort, passive: opts.weAre === 'active' }],
  });
  us.start(c);
  await waitFor('session Established on both sides', () => us.neighbor.state === 'Established' && gobgp.state(US) === 'established', 30_000, 200);
  return { gobgp, us };
}

describe('sessions with GoBGP', { timeout: 120_000 }, () => {
  test('reaches Established when we connect', async () => {
    const { us } = await setup({ weAre: 'active' });
    assert.equal(us.established, 1);
    assert.equal(us.neighbor.negotiated?.fourOctetAs, true);
  });

  test('reaches Established when GoBGP connects to us', async () => {
    const { us } = await setup({ weAre: 'passive' });
    assert.equal(us.neighbor.negotiated?.peerId, THEM);
  });

  test('ends with exactly one session when both sides connect at once', async () => {
    const { us, gobgp } = await setup({ weAre: 'both' });
    // Collision resolution is over before either side is Established (it
    // happens on the OPENs); two more KEEPALIVEs each way on the session
    // GoBGP holds show the surviving connection carries on.
    const start = gobgp.counters(US);
    await waitFor('two more KEEPALIVEs each way', () => {
      const now = gobgp.counters(US);
      return now.keepalivesSent >= start.keepalivesSent + 2 && now.keepalivesReceived >= start.keepalivesReceived + 2;
    }, 30_000, 200);
    assert.equal(us.neighbor.state, 'Established');
    assert.equal(gobgp.state(US), 'established');
    assert.equal(gobgp.counters(US).flops, 0, 'GoBGP never lost an Established session');
    assert.equal(us.established, 1, 'we reached Established once');
  });

  test('exchanges IPv4 and IPv6 routes both ways', async () => {
    const { us, gobgp } = await setup({ weAre: 'active' });
    const v4 = Array.from({ length: 2000 }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.0/24`);
    const v6 = Array.from({ length: 1000 }, (_, i) => `2001:db8:${i.toString(16)}::/48`);
    // GoBGP refuses loopback next hops; the address need not be reachable.
    us.announce(v4, { origin: 0, asPath: [], nextHop: '192.0.2.21', localPref: 100 });
    us.announce(v6, { origin: 0, asPath: [], localPref: 100 }, ['2001:db8:ffff::1']);
    await waitFor('GoBGP to hold our 2000 IPv4 routes', () => gobgp.ribCount('ipv4') === 2000, 30_000, 250).catch((e: Error) => {
      throw new Error(`${e.message}; GoBGP has ${gobgp.ribCount('ipv4')}; state ${us.neighbor.state}; downs ${JSON.stringify(us.downs)}\n${gobgp.logs().slice(-1500)}`);
    });
    await waitFor('GoBGP to hold our 1000 IPv6 routes', () => gobgp.ribCount('ipv6') === 1000, 30_000, 250);

    for (let i = 0; i < 5; i++) gobgp.cli('global', 'rib', 'add', `198.51.100.${i * 16}/28`, 'community', '64512:7', '-a', 'ipv4');
    gobgp.cli('global', 'rib', 'add', '2001:db8:beef::/48', '-a', 'ipv6');
    await waitFor('our Adj-RIB-In to hold GoBGP routes', () => us.adjIn.has('198.51.100.64/28') && us.adjIn.has('2001:db8:beef::/48'), 20_000, 100);
    assert.deepEqual(us.adjIn.get('198.51.100.0/28')?.communities, ['64512:7']);
    gobgp.cli('global', 'rib', 'del', '198.51.100.0/28', '-a', 'ipv4');
    await waitFor('the withdrawal to reach us', () => !us.adjIn.has('198.51.100.0/28'), 20_000, 100);
  });

  test('shuts down with a Cease that GoBGP logs with our message', async () => {
    const { us, gobgp } = await setup({ weAre: 'active' });
    us.neighbor.stop('calico-bgpd test: planned maintenance');
    await waitFor('GoBGP to see the session go down', () => gobgp.state(US) !== 'established', 10_000, 100);
    await waitFor('GoBGP to log our shutdown text', () => gobgp.logs().includes('planned maintenance'), 10_000, 100);
  });
});
