/**
 * Our speaker against a real FRR bgpd (standalone, no zebra) on loopback, as
 * an eBGP top-of-rack peer (a Calico global peer): IPv4 and IPv6 sessions
 * reach Established whoever connects; routes both ways; route refresh both
 * ways; a Cease that FRR logs with our shutdown text.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { Speaker } from '../../../src/bgp/speaker/speaker.js';
import { Frr, frrAvailable } from '../../support/daemons/frr.js';
import { V6, blocks as blocksFrom, bothEstablished, cleanupAfterEach, from, ourState, sinceAcross, startInteropSpeaker } from '../../support/interop.js';
import { freePort, waitFor } from '../../support/process.js';
import { socketOptionsAvailable } from '../../../src/bgp/session/sockopt.js';

const sockopts = socketOptionsAvailable();

const US = '127.0.81.1';
const THEM = '127.0.81.2';
const OUR_AS = 64512;
const FRR_AS = 64513;
const PEER4 = 'Global_127_0_81_2';
const PEER6 = 'Global_v6';
/** bgpd without zebra can stall for seconds on a loaded machine while it takes thousands of routes. */
const HOLD = 30;
/** What FRR sets as the next hop of our IPv6 routes: ours, ::1, is its own address too. */
const OUR_NH6 = 'fd00:81::1';

const c = cleanupAfterEach();
const log = pino({ level: process.env.TEST_LOG ?? 'silent' });

interface Lab {
  speaker: Speaker;
  frr: Frr;
}

/** `count` /26 blocks from 10.81.0.0 and `count6` /122 blocks from fd00:81::. */
const blocks = (count: number, count6: number) => blocksFrom(81, count, count6);

async function setup(o: { weAre: 'active' | 'passive' | 'both'; blocks?: { v4: string[]; v6: string[] }; networks?: string[]; password?: string }): Promise<Lab> {
  const ourPort = await freePort(US);
  const frrPort = await freePort(THEM);
  const tor = { type: 'global' as const, asNumber: FRR_AS, calicoNode: false, port: frrPort, passive: o.weAre === 'passive', password: o.password ?? null };
  const nbr = { holdTime: HOLD, peerAs: OUR_AS, remotePort: ourPort, passive: o.weAre === 'active', ...(o.password !== undefined ? { password: o.password } : {}) };
  const frr = await Frr.start(c, {
    as: FRR_AS, routerId: THEM, address: THEM, port: frrPort, moreAddresses: [V6],
    neighbors: [{ ...nbr, address: US }, { ...nbr, address: V6, localAddress: V6, inboundNextHop: OUR_NH6 }],
    networks: o.networks ?? [],
  });
  const speaker = await startInteropSpeaker(c, {
    us: US, asNumber: OUR_AS, octet: 81, blocks: o.blocks ?? { v4: ['10.81.0.0/26'], v6: ['fd00:81::/122'] },
    peer4: { ...tor, name: PEER4, address: THEM }, peer6: { ...tor, name: PEER6, address: V6 },
    listenPort: ourPort, holdTime: HOLD, log,
  });
  const lab = { speaker, frr };
  await established(lab);
  return lab;
}

async function established({ speaker, frr }: Lab): Promise<void> {
  await bothEstablished(
    speaker,
    [PEER4, PEER6],
    () => frr.state(US) === 'established' && frr.state(V6) === 'established',
    () => `FRR ${frr.state(US)} / ${frr.state(V6)}\n${frr.logs().slice(-2000)}`,
  );
}

const stat = (frr: Frr, nbr: string, key: string): number => ((frr.neighborJson(nbr)?.messageStats as Record<string, number> | undefined)?.[key] ?? -1);

describe('our speaker with FRR bgpd', { skip: frrAvailable() ?? false, timeout: 120_000 }, () => {
  test('IPv4 and IPv6 sessions reach Established when we connect', async () => {
    const { frr } = await setup({ weAre: 'active' });
    assert.equal(frr.neighborJson(US)?.remoteAs, OUR_AS);
  });

  test('IPv4 and IPv6 sessions reach Established when FRR connects', async () => {
    await setup({ weAre: 'passive' });
  });

  test('ends with one session per family when both sides connect at once', async () => {
    const lab = await setup({ weAre: 'both' });
    const since = await sinceAcross(lab.speaker, () => established(lab));
    assert.deepEqual(since.after, since.before, 'no session flapped');
  });

  // md5.test.ts covers MD5 on a bare Neighbor; this is the speaker's own
  // path: the model's password on its connects and on its listeners.
  test('an MD5 session set up by the speaker from the model reaches Established whoever connects', { skip: sockopts.ok ? false : `native addon unavailable: ${sockopts.reason}` }, async () => {
    for (const weAre of ['active', 'passive'] as const) {
      const { speaker } = await setup({ weAre, password: 'calico-secret' });
      assert.deepEqual(speaker.status().peers.map((p) => p.state), ['Established', 'Established']);
      await c.run();
    }
  });

  test('exchanges a couple of thousand IPv4 and IPv6 routes both ways', async () => {
    const theirs4 = Array.from({ length: 1000 }, (_, i) => `10.${91 + (i >> 8)}.${i & 255}.0/24`);
    const theirs6 = Array.from({ length: 500 }, (_, i) => `fd00:91:${i.toString(16)}::/48`);
    const { speaker, frr } = await setup({ weAre: 'active', blocks: blocks(2000, 1000), networks: [...theirs4, ...theirs6] });
    await waitFor('FRR to accept our 2000 IPv4 and 1000 IPv6 blocks', () => frr.prefixesReceived(US) === 2000 && frr.prefixesReceived(V6) === 1000, 30_000, 250).catch((e: Error) => {
      throw new Error(`${e.message}; FRR has ${frr.prefixesReceived(US)} / ${frr.prefixesReceived(V6)}\n${JSON.stringify(frr.neighborJson(V6))}\n${frr.vtysh('show bgp ipv6 unicast fd00:81::40/122 json').stdout}\n${frr.logs().split('\n').filter((l) => !l.includes('sendmsg_nexthop')).join('\n').slice(-3000)}`);
    });
    await waitFor('us to hold FRR\'s 1000 IPv4 and 500 IPv6 routes', () => from(speaker, PEER4).length === 1000 && from(speaker, PEER6).length === 500, 30_000, 250).catch((e: Error) => {
      throw new Error(`${e.message}; we have ${from(speaker, PEER4).length} / ${from(speaker, PEER6).length}\n${frr.logs().slice(-1500)}`);
    });
    const r = from(speaker, PEER4, '10.91.5.0/24')[0]!;
    assert.deepEqual(r.nextHops, [THEM]);
    assert.deepEqual(r.asPath, [FRR_AS]);
    assert.deepEqual(from(speaker, PEER6, 'fd00:91:1f3::/48')[0]?.asPath, [FRR_AS]);
    // FRR sees our AS prepended to our block.
    const shown = JSON.parse(frr.vtysh('show bgp ipv4 unicast 10.81.7.64/26 json').stdout) as { paths?: { aspath?: { string?: string } }[] };
    assert.equal(shown.paths?.[0]?.aspath?.string, String(OUR_AS));
  });

  test('route refresh: FRR asks and we re-send; we ask and FRR re-sends', async () => {
    const { speaker, frr } = await setup({ weAre: 'active', blocks: blocks(50, 1), networks: ['192.0.2.0/25', '192.0.2.128/25'] });
    await waitFor('FRR accepts our 50 blocks', () => frr.prefixesReceived(US) === 50, 20_000, 100);
    await waitFor('we hold FRR\'s 2 routes', () => from(speaker, PEER4).length === 2, 20_000, 100);
    const updates = stat(frr, US, 'updatesRecv');
    const asked = stat(frr, US, 'routeRefreshSent');
    assert.equal(frr.vtysh(`clear bgp ipv4 unicast ${US} soft in`).status, 0);
    await waitFor('FRR to send ROUTE-REFRESH and get our table again', () => stat(frr, US, 'routeRefreshSent') > asked && stat(frr, US, 'updatesRecv') > updates, 20_000, 100).catch((e: Error) => {
      throw new Error(`${e.message}; ${JSON.stringify(frr.neighborJson(US)?.messageStats)} refreshSent ${asked} -> ${stat(frr, US, 'routeRefreshSent')}, updatesRecv ${updates} -> ${stat(frr, US, 'updatesRecv')}`);
    });
    assert.equal(frr.prefixesReceived(US), 50);
    const received = speaker.status().peers.find((p) => p.name === PEER4)!.routesReceived;
    const refreshRecv = stat(frr, US, 'routeRefreshRecv');
    assert.equal(speaker.refresh(PEER4), true);
    await waitFor('FRR to re-send its routes', () => speaker.status().peers.find((p) => p.name === PEER4)!.routesReceived >= received + 2, 20_000, 100);
    assert.ok(stat(frr, US, 'routeRefreshRecv') > refreshRecv);
    assert.equal(from(speaker, PEER4).length, 2);
    assert.equal(ourState(speaker, PEER4), 'Established');
  });

  test('shuts down with a Cease that FRR logs with our message', async () => {
    const { speaker, frr } = await setup({ weAre: 'active' });
    await speaker.stop({ graceful: false, message: 'calico-bgpd test: planned maintenance' });
    await waitFor('FRR to see both sessions go down', () => frr.state(US) !== 'established' && frr.state(V6) !== 'established', 10_000, 100);
    await waitFor('FRR to log our shutdown text', () => frr.logs().includes('planned maintenance'), 10_000, 100).catch((e: Error) => {
      throw new Error(`${e.message}\n${frr.logs().slice(-1500)}`);
    });
    assert.match(frr.logs(), /Cease\/Administrative Shutdown/);
  });
});
