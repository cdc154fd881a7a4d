/**
 * Our speaker against a real ExaBGP 4.2 on loopback, as an eBGP peer:
 * IPv4 and IPv6 sessions reach Established whoever connects; routes both
 * ways (ExaBGP's static routes to us, our blocks to ExaBGP's API process);
 * a Cease ends the session (ExaBGP 4.2 cannot decode its shutdown text).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { Speaker } from '../../../src/bgp/speaker/speaker.js';
import { Exabgp, exabgpAvailable, exabgpVersion } from '../../support/daemons/exabgp.js';
import { V6, blocks as blocksFrom, bothEstablished, cleanupAfterEach, from, sinceAcross, startInteropSpeaker } from '../../support/interop.js';
import { freePort, waitFor } from '../../support/process.js';

const US = '127.0.82.1';
const THEM = '127.0.82.2';
const OUR_AS = 64512;
const EXA_AS = 64513;
const PEER4 = 'Global_127_0_82_2';
const PEER6 = 'Global_v6';
const HOLD = 30;

const c = cleanupAfterEach();
const log = pino({ level: process.env.TEST_LOG ?? 'silent' });

interface Lab {
  speaker: Speaker;
  exa: Exabgp;
}

/** `count` /26 blocks from 10.82.0.0 and `count6` /122 blocks from fd00:82::. */
const blocks = (count: number, count6: number) => blocksFrom(82, count, count6);

async function setup(o: { weAre: 'active' | 'passive' | 'both'; blocks?: { v4: string[]; v6: string[] }; routes4?: string[]; routes6?: string[] }): Promise<Lab> {
  const ourPort = await freePort(US);
  const exaPort = await freePort(THEM);
  const tor = { type: 'global' as const, asNumber: EXA_AS, calicoNode: false, port: exaPort, passive: o.weAre === 'passive' };
  const nbr = { peerAs: OUR_AS, remotePort: ourPort, passive: o.weAre === 'active', holdTime: HOLD };
  const exa = await Exabgp.start(c, {
    as: EXA_AS, routerId: THEM, listen: [THEM, V6], port: exaPort,
    neighbors: [
      { ...nbr, address: US, localAddress: THEM, routes: o.routes4 ?? [] },
      { ...nbr, address: V6, localAddress: V6, routes: o.routes6 ?? [] },
    ],
  });
  const speaker = await startInteropSpeaker(c, {
    us: US, asNumber: OUR_AS, octet: 82, blocks: o.blocks ?? { v4: ['10.82.0.0/26'], v6: ['fd00:82::/122'] },
    peer4: { ...tor, name: PEER4, address: THEM }, peer6: { ...tor, name: PEER6, address: V6 },
    listenPort: ourPort, holdTime: HOLD, log,
  });
  const lab = { speaker, exa };
  await established(lab);
  return lab;
}

async function established({ speaker, exa }: Lab): Promise<void> {
  await bothEstablished(
    speaker,
    [PEER4, PEER6],
    () => exa.state(US) === 'up' && exa.state(V6) === 'up',
    () => `ExaBGP ${exa.state(US)} / ${exa.state(V6)}\n${exa.logs().slice(-2000)}`,
  );
}

describe('our speaker with ExaBGP', { skip: exabgpAvailable() ?? false, timeout: 120_000 }, () => {
  test('IPv4 and IPv6 sessions reach Established when we connect', async () => {
    await setup({ weAre: 'active' });
  });

  test('IPv4 and IPv6 sessions reach Established when ExaBGP connects', async () => {
    await setup({ weAre: 'passive' });
  });

  test('ends with one session per family when both sides connect at once', async () => {
    const lab = await setup({ weAre: 'both' });
    const since = await sinceAcross(lab.speaker, () => established(lab));
    assert.deepEqual(since.after, since.before, 'no session flapped');
  });

  test('exchanges a couple of thousand IPv4 and IPv6 routes both ways', async () => {
    const ours = blocks(2000, 1000);
    const routes4 = Array.from({ length: 1000 }, (_, i) => `10.${92 + (i >> 8)}.${i & 255}.0/24`);
    const routes6 = Array.from({ length: 500 }, (_, i) => `fd00:92:${i.toString(16)}::/48`);
    const { speaker, exa } = await setup({ weAre: 'active', blocks: ours, routes4, routes6 });
    await waitFor('ExaBGP to receive our 2000 IPv4 and 1000 IPv6 blocks', () => exa.routesFrom(US).size === 2000 && exa.routesFrom(V6).size === 1000, 30_000, 250).catch((e: Error) => {
      throw new Error(`${e.message}; ExaBGP has ${exa.routesFrom(US).size} / ${exa.routesFrom(V6).size}`);
    });
    assert.ok(exa.routesFrom(US).has('10.82.7.64/26'));
    assert.ok(exa.routesFrom(V6).has('fd00:82::f9c0/122'));
    await waitFor('us to hold ExaBGP\'s 1000 IPv4 and 500 IPv6 routes', () => from(speaker, PEER4).length === 1000 && from(speaker, PEER6).length === 500, 30_000, 250).catch((e: Error) => {
      throw new Error(`${e.message}; we have ${from(speaker, PEER4).length} / ${from(speaker, PEER6).length}\n${exa.logs().slice(-1500)}`);
    });
    const r = from(speaker, PEER4, '10.92.5.0/24')[0]!;
    assert.deepEqual(r.nextHops, [THEM]);
    assert.deepEqual(r.asPath, [EXA_AS]);
    assert.deepEqual(from(speaker, PEER6, 'fd00:92:1f3::/48')[0]?.nextHops, [V6]);
  });

  test('shuts down with a Cease that ExaBGP takes as the end of the session', async () => {
    const { speaker, exa } = await setup({ weAre: 'active' });
    await speaker.stop({ graceful: false, message: 'calico-bgpd test: planned maintenance' });
    await waitFor('ExaBGP to see both sessions go down', () => exa.state(US) === 'down' && exa.state(V6) === 'down', 10_000, 100);
    // ExaBGP 4 cannot decode any non-empty RFC 8203/9003 shutdown
    // communication (bytes %-formatted with a str: a TypeError, reported as
    // "can not decode ... message of type 3", 3 being NOTIFICATION); the fix
    // (Exa-Networks/exabgp#1302) went into the ExaBGP 5 line. So the version decides
    // what to expect: 4.x (Debian's, which CI runs) must show exactly that
    // failure on our NOTIFICATION, a later one must report our text.
    const reason = exa.lastDownReason(US);
    const [major] = exabgpVersion();
    const expected = major < 5 ? /can not decode \w+ message of type "3"/ : /planned maintenance/;
    assert.match(reason, expected, `ExaBGP ${exabgpVersion().join('.')}: ${reason}\n${exa.logs().slice(-1500)}`);
  });
});
