/**
 * A change of import policy (`--import-only-pools` with the pools changing,
 * `--import-reject-cidrs` with the reject CIDRs changing) applies to routes
 * already learned from a real BIRD, without the session being reset and
 * without BIRD sending anything again (RFC 4271 9.1: the decision process
 * runs again when the policy changes).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Speaker } from '../../../src/bgp/speaker/speaker.js';
import { Bird } from '../../support/daemons/bird.js';
import { cleanup, freePort, waitFor } from '../../support/process.js';
import { family, nodeModel, peer, pool } from '../../support/model.js';

const US = '127.0.93.1';
const THEM = '127.0.93.2';
const OUR_AS = 64512;
const BIRD_AS = 64513;
const IN_POOL = '198.51.100.0/26';
const OUTSIDE = '203.0.113.0/26';
const PEER = 'Global_127_0_93_2';

const c = cleanup();
after(() => c.run());

test('a changed import policy is applied to routes already learned, without a session reset or a resend', { timeout: 90_000 }, async () => {
  const ourPort = await freePort(US);
  const birdPort = await freePort(THEM);
  const model = (o: { pools: string[]; rejectCidrs: string[] }) =>
    nodeModel({
      nodeName: 'us',
      routerId: US,
      asNumber: OUR_AS,
      ipv4: family({
        address: US,
        pools: o.pools.map((p) => pool(p)),
        rejectCidrs: o.rejectCidrs,
        peers: [peer({ name: PEER, type: 'global', address: THEM, port: birdPort, asNumber: BIRD_AS, calicoNode: false, sourceAddress: US })],
      }),
    });
  const speaker = new Speaker(model({ pools: ['198.51.100.0/24'], rejectCidrs: [] }), {
    role: 'node',
    listenHost: US,
    listenPort: ourPort,
    log: pino({ level: process.env.TEST_LOG ?? 'silent' }),
    session: { connectRetryTime: 1 },
    importOnlyPools: true,
    importRejectCidrs: true,
    batchMs: 1,
  });
  await Bird.start(c, {
    as: BIRD_AS, routerId: THEM, address: THEM, port: birdPort,
    neighbors: [{ name: 'calico', address: US, peerAs: OUR_AS, remotePort: ourPort, passive: true, export: 'where source = RTS_STATIC' }],
    statics: [{ name: 'announced', routes: [IN_POOL, OUTSIDE] }],
  });
  await speaker.start();
  c.add(() => speaker.stop());

  const status = () => speaker.status().peers.find((p) => p.name === PEER)!;
  const has = (prefix: string): boolean => speaker.routes(prefix).routes.some((r) => r.from === PEER);
  const learned = (): string[] => [IN_POOL, OUTSIDE].filter(has);

  // Both routes arrive; only the one inside a pool is taken.
  await waitFor('both routes received, one accepted', () => status().state === 'Established' && status().routesReceived === 2 && status().routesAccepted === 1, 30_000, 100);
  assert.deepEqual(learned(), [IN_POOL]);
  const since = status().since;

  // The other prefix's pool appears: its route, turned away before, is taken now.
  speaker.applyModel(model({ pools: ['198.51.100.0/24', '203.0.113.0/24'], rejectCidrs: [] }));
  await waitFor('the route in the new pool is accepted', () => has(OUTSIDE), 10_000, 50);
  assert.deepEqual(learned(), [IN_POOL, OUTSIDE]);

  // A reject CIDR now covers the first route: it goes.
  speaker.applyModel(model({ pools: ['198.51.100.0/24', '203.0.113.0/24'], rejectCidrs: ['198.51.100.0/24'] }));
  await waitFor('the route in the reject CIDR is dropped', () => !has(IN_POOL), 10_000, 50);
  assert.deepEqual(learned(), [OUTSIDE]);
  assert.equal(status().routesAccepted, 1);

  // Both changes undone: the first route comes back, the second goes.
  speaker.applyModel(model({ pools: ['198.51.100.0/24'], rejectCidrs: [] }));
  await waitFor('back to the first policy', () => has(IN_POOL) && !has(OUTSIDE), 10_000, 50);

  // All of it from what was kept: BIRD sent each route once, on one session.
  assert.equal(status().routesReceived, 2, 'no route was sent again');
  assert.equal(status().since, since, 'the session was not reset');
  assert.equal(status().state, 'Established');
});
