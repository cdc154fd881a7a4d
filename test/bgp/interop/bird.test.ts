/**
 * Our speaker against real BIRD 1.6 (`bird` + `bird6`, as calico-node runs
 * them) and BIRD 2 on loopback, in a Calico node-to-node mesh (iBGP, `add
 * paths on`): Established whoever connects; a couple of thousand IPv4 and
 * IPv6 routes both ways; two ADD-PATH paths for one prefix; route refresh
 * both ways; graceful restart across a BIRD restart; Cease with our text.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { Speaker } from '../../../src/bgp/speaker/speaker.js';
import { Bird, birdBinaries, type BirdFlavor, type BirdOptions, type BirdStatic } from '../../support/daemons/bird.js';
import { V6, blocks as blocksFrom, bothEstablished, cleanupAfterEach, from, ourState, sinceAcross, startInteropSpeaker } from '../../support/interop.js';
import { freePortOn, waitFor } from '../../support/process.js';
import { socketOptionsAvailable } from '../../../src/bgp/session/sockopt.js';

const sockopts = socketOptionsAvailable();

const US = '127.0.80.1';
const THEM = '127.0.80.2';
const AS = 64512;
/** The IPv6 next hop BIRD's routes carry (need not be reachable). */
const THEIR_NH6 = 'fd00:90::1';
const PEER4 = 'Mesh_127_0_80_2';
const PEER6 = 'Mesh_v6';

const c = cleanupAfterEach();

/** `count` /26 blocks from 10.80.0.0 and `count6` /122 blocks from fd00:80::. */
const blocks = (count: number, count6: number) => blocksFrom(80, count, count6);

interface Lab {
  speaker: Speaker;
  /** The daemon holding protocol `calico4` and the one holding `calico6` (the same one for BIRD 2). */
  bird4: Bird;
  bird6: Bird;
  /** Options to restart `bird4` with. */
  opts4: BirdOptions;
  events: string[];
}

interface LabOptions {
  weAre: 'active' | 'passive' | 'both';
  blocks?: { v4: string[]; v6: string[] };
  statics4?: BirdStatic[];
  statics6?: BirdStatic[];
  gracefulRestart?: boolean;
  /** TCP-MD5 key on both sides of both sessions. */
  password?: string;
  /** Called synchronously on each log line of our speaker. */
  onLog?: (line: { msg: string; peer?: string }) => void;
}

async function setup(flavor: 'bird1' | 'bird2', o: LabOptions): Promise<Lab> {
  // Our speaker listens on US and V6; BIRD 6 on V6: no two may share a port.
  const ourPort = await freePortOn([US, V6]);
  const birdPort = await freePortOn([THEM], [ourPort]);
  const birdPort6 = await freePortOn([V6], [ourPort, birdPort]);
  const b = o.blocks ?? { v4: ['10.80.0.0/26'], v6: ['fd00:80::/122'] };
  const events: string[] = [];
  const log = pino({ level: 'info' }, {
    write: (s: string) => {
      const line = JSON.parse(s) as { msg: string; peer?: string };
      events.push(`${line.peer ?? ''} ${line.msg}`);
      o.onLog?.(line);
    },
  });
  const common = { passive: o.weAre === 'active', addPaths: true, export: 'all', gracefulRestart: o.gracefulRestart === true, ...(o.password !== undefined ? { password: o.password } : {}) };
  const n4 = { ...common, name: 'calico4', address: US, peerAs: AS, remotePort: ourPort };
  // BIRD will not send ::1 (host scope) as a next hop ("Invalid NEXT_HOP
  // attribute"): its routes to us over ::1 carry an explicit one.
  const n6 = { ...common, export: `filter { bgp_next_hop = ${THEIR_NH6}; accept; }`, name: 'calico6', address: V6, peerAs: AS, remotePort: ourPort, localAddress: V6, localPort: birdPort6 };
  let bird4: Bird;
  let bird6: Bird;
  let opts4: BirdOptions;
  if (flavor === 'bird2') {
    opts4 = { flavor, as: AS, routerId: THEM, address: THEM, port: birdPort, neighbors: [n4, n6], statics: [...(o.statics4 ?? []), ...(o.statics6 ?? [])] };
    bird4 = bird6 = await Bird.start(c, opts4);
  } else {
    opts4 = { flavor: 'bird1', as: AS, routerId: THEM, address: THEM, port: birdPort, neighbors: [n4], statics: o.statics4 ?? [] };
    bird4 = await Bird.start(c, opts4);
    bird6 = await Bird.start(c, { flavor: 'bird6', as: AS, routerId: '127.0.80.3', address: V6, port: birdPort6, neighbors: [n6], statics: o.statics6 ?? [] });
  }
  const passive = o.weAre === 'passive';
  const password = o.password ?? null;
  const speaker = await startInteropSpeaker(c, {
    us: US, asNumber: AS, octet: 80, blocks: b,
    peer4: { name: PEER4, address: THEM, port: birdPort, passive, password },
    peer6: { name: PEER6, address: V6, port: birdPort6, passive, password },
    listenPort: ourPort, holdTime: 9, log,
  });
  const lab = { speaker, bird4, bird6, opts4, events };
  await established(lab);
  return lab;
}

async function established(lab: Lab): Promise<void> {
  const { speaker, bird4, bird6 } = lab;
  await bothEstablished(
    speaker,
    [PEER4, PEER6],
    () => bird4.state('calico4') === 'established' && bird6.state('calico6') === 'established',
    () =>
      `BIRD ${bird4.state('calico4')} ${bird4.lastError('calico4')} / ${bird6.state('calico6')} ${bird6.lastError('calico6')}\n` +
      `${lab.events.slice(-10).join('\n')}\n${bird4.logs().slice(-1500)}\n${bird6 === bird4 ? '' : bird6.logs().slice(-1000)}`,
  );
}

// ---------------------------------------------------------------------------

for (const flavor of ['bird1', 'bird2'] as const satisfies readonly BirdFlavor[]) {
  const label = flavor === 'bird1' ? 'BIRD 1.6' : 'BIRD 2';
  const missing = birdBinaries(flavor) === null || (flavor === 'bird1' && birdBinaries('bird6') === null);

  describe(`our speaker with ${label}`, { skip: missing ? `${label} not installed` : false, timeout: 120_000 }, () => {
    test('IPv4 and IPv6 sessions reach Established when we connect', async () => {
      const { speaker } = await setup(flavor, { weAre: 'active' });
      assert.equal(speaker.status().peers.length, 2);
    });

    test('IPv4 and IPv6 sessions reach Established when BIRD connects', async () => {
      await setup(flavor, { weAre: 'passive' });
    });

    test('ends with one session per family when both sides connect at once', async () => {
      const lab = await setup(flavor, { weAre: 'both' });
      const since = await sinceAcross(lab.speaker, () => established(lab));
      assert.deepEqual(since.after, since.before, 'no session flapped');
    });

    // md5.test.ts covers MD5 on a bare Neighbor; this is the speaker's own
    // path: the model's password on its connects and on its listeners.
    test('an MD5 session set up by the speaker from the model reaches Established whoever connects', { skip: sockopts.ok ? false : `native addon unavailable: ${sockopts.reason}` }, async () => {
      for (const weAre of ['active', 'passive'] as const) {
        const { speaker } = await setup(flavor, { weAre, password: 'calico-secret' });
        assert.deepEqual(speaker.status().peers.map((p) => p.state), ['Established', 'Established']);
        await c.run();
      }
    });

    test('exchanges a couple of thousand IPv4 and IPv6 routes both ways', async () => {
      const ours = blocks(2000, 1000);
      const theirs4 = Array.from({ length: 1000 }, (_, i) => `10.${90 + (i >> 8)}.${i & 255}.0/24`);
      const theirs6 = Array.from({ length: 500 }, (_, i) => `fd00:90:${i.toString(16)}::/48`);
      const { speaker, bird4, bird6 } = await setup(flavor, {
        weAre: 'active', blocks: ours,
        statics4: [{ name: 'up4', routes: theirs4, community: [AS, 7] }],
        statics6: [{ name: 'up6', routes: theirs6 }],
      });
      await waitFor('BIRD to hold our 2000 IPv4 blocks', () => bird4.routeCount('calico4') === 2000, 30_000, 250).catch((e: Error) => {
        throw new Error(`${e.message}; BIRD has ${bird4.routeCount('calico4')}`);
      });
      await waitFor('BIRD to hold our 1000 IPv6 blocks', () => bird6.routeCount('calico6') === 1000, 30_000, 250).catch((e: Error) => {
        throw new Error(`${e.message}; BIRD has ${bird6.routeCount('calico6')}`);
      });
      await waitFor('us to hold BIRD\'s 1000 IPv4 and 500 IPv6 routes', () => from(speaker, PEER4).length === 1000 && from(speaker, PEER6).length === 500, 30_000, 250).catch((e: Error) => {
        throw new Error(`${e.message}; we have ${from(speaker, PEER4).length} / ${from(speaker, PEER6).length}; ${JSON.stringify(speaker.status().peers)}\n` +
          `${bird6.cli('show', 'protocols', 'all', 'calico6').stdout}\n${bird6.cli('show', 'route', 'export', 'calico6', 'count').stdout}\n${bird6.logs().slice(-1000)}`);
      });
      const r = from(speaker, PEER4, '10.90.5.0/24')[0]!;
      assert.deepEqual(r.nextHops, [THEM]);
      assert.deepEqual(r.communities, [`${AS}:7`]);
      assert.deepEqual(from(speaker, PEER6, 'fd00:90:1f3::/48')[0]?.nextHops, [THEIR_NH6]);
      // BIRD shows our block with our next hop and an empty AS path (iBGP).
      const shown = bird4.cli('show', 'route', '10.80.7.64/26', 'all').stdout;
      assert.match(shown, /BGP\.next_hop: 127\.0\.80\.1/);
    });

    test('ADD-PATH: BIRD sends us both of its paths for one prefix', async () => {
      const { speaker } = await setup(flavor, {
        weAre: 'active',
        statics4: [
          { name: 'left', routes: ['203.0.113.0/24'], community: [AS, 1] },
          { name: 'right', routes: ['203.0.113.0/24'], community: [AS, 2] },
        ],
      });
      await waitFor('two paths for 203.0.113.0/24 from BIRD', () => from(speaker, PEER4, '203.0.113.0/24').length === 2, 20_000, 100).catch((e: Error) => {
        throw new Error(`${e.message}; we have ${JSON.stringify(speaker.routes('203.0.113.0/24').routes)}`);
      });
      const communities = from(speaker, PEER4, '203.0.113.0/24').map((r) => r.communities.join(',')).sort();
      assert.deepEqual(communities, [`${AS}:1`, `${AS}:2`]);
      assert.equal(from(speaker, PEER4, '203.0.113.0/24').filter((r) => r.best).length, 1);
    });

    test('route refresh: BIRD asks and we re-send; we ask and BIRD re-sends', async () => {
      const { speaker, bird4 } = await setup(flavor, { weAre: 'active', blocks: blocks(50, 1), statics4: [{ name: 'up4', routes: ['192.0.2.0/25', '192.0.2.128/25'] }] });
      await waitFor('BIRD holds our 50 blocks', () => bird4.routeCount('calico4') === 50, 20_000, 100);
      await waitFor('we hold BIRD\'s 2 routes', () => from(speaker, PEER4).length === 2, 20_000, 100);
      const before = bird4.importUpdatesReceived('calico4');
      assert.equal(bird4.cli('reload', 'in', 'calico4').status, 0);
      await waitFor('BIRD to receive our table again', () => bird4.importUpdatesReceived('calico4') >= before + 50, 20_000, 100).catch((e: Error) => {
        throw new Error(`${e.message}; import updates ${before} -> ${bird4.importUpdatesReceived('calico4')}`);
      });
      assert.equal(bird4.state('calico4'), 'established');
      const received = speaker.status().peers.find((p) => p.name === PEER4)!.routesReceived;
      assert.equal(speaker.refresh(PEER4), true);
      await waitFor('BIRD to re-send its routes', () => speaker.status().peers.find((p) => p.name === PEER4)!.routesReceived >= received + 2, 20_000, 100);
      assert.equal(from(speaker, PEER4).length, 2);
      assert.equal(ourState(speaker, PEER4), 'Established');
    });

    test('graceful restart: our copy of BIRD\'s routes stays across its restart until its End-of-RIB', async () => {
      const keep = '198.51.100.0/25';
      const dropped = '198.51.100.128/25';
      let lab: Lab | undefined;
      /** What we held each time a session came up again, and whether `keep` ever went missing. */
      const atReestablish: number[] = [];
      let keepLost = false;
      lab = await setup(flavor, {
        weAre: 'both', gracefulRestart: true,
        statics4: [{ name: 'up4', routes: [keep, dropped] }],
        onLog: (l) => {
          if (lab === undefined) return;
          if (l.msg === 'BGP session established' && l.peer === PEER4) atReestablish.push(from(lab.speaker, PEER4).length);
        },
      });
      const { speaker, bird4 } = lab;
      await waitFor('we hold BIRD\'s 2 routes', () => from(speaker, PEER4).length === 2, 20_000, 100);
      const watch = setInterval(() => {
        if (from(speaker, PEER4, keep).length === 0) keepLost = true;
      }, 10);
      c.add(() => clearInterval(watch));
      await bird4.restart({ ...lab.opts4, statics: [{ name: 'up4', routes: [keep] }] }, flavor === 'bird2');
      await waitFor('the session to come back', () => ourState(speaker, PEER4) === 'Established' && bird4.state('calico4') === 'established', 30_000, 100);
      await waitFor('the route BIRD no longer has to go after its End-of-RIB', () => from(speaker, PEER4, dropped).length === 0, 30_000, 100);
      clearInterval(watch);
      assert.equal(keepLost, false, 'the route BIRD kept was never withdrawn from our table');
      assert.deepEqual(atReestablish, [2], 'both routes, stale, were still held when the session came back');
      assert.ok(lab.events.some((e) => e.includes('graceful restart: keeping routes as stale')), lab.events.join('\n'));
      assert.match(bird4.logs(), /[Gg]raceful restart/);
    });

    test('shuts down with a Cease that BIRD reports with our message', async () => {
      const { speaker, bird4, bird6 } = await setup(flavor, { weAre: 'active' });
      await speaker.stop({ graceful: false, message: 'calico-bgpd test: planned maintenance' });
      await waitFor('BIRD to see both sessions go down', () => bird4.state('calico4') !== 'established' && bird6.state('calico6') !== 'established', 10_000, 100);
      // `show protocols all` says only "Received: Administrative shutdown"; the log has the text.
      assert.match(bird4.lastError('calico4'), /Administrative shutdown/);
      assert.match(bird6.lastError('calico6'), /Administrative shutdown/);
      const logged = (b: Bird, proto: string) => b.logs().includes(`${proto}: Received: Administrative shutdown: "calico-bgpd test: planned maintenance"`);
      await waitFor('BIRD to log our shutdown text', () => logged(bird4, 'calico4') && logged(bird6, 'calico6'), 10_000, 100).catch((e: Error) => {
        throw new Error(`${e.message}\n${bird4.logs().slice(-800)}\n${bird6.logs().slice(-800)}`);
      });
    });
  });
}
