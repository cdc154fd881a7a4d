/**
 * Split horizon on a route reflector: a client is never sent back a route it
 * originated (its ORIGINATOR_ID), and when its own route replaces one it had
 * been sent, it gets that one withdrawn.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Speaker } from '../../../src/bgp/speaker/speaker.js';
import { DEFAULT_CONTEXT, encodeMessage, messageFromJson, type DecodedMessage, type DecodedUpdate } from '../../../src/bgp/packet/index.js';
import { cleanup, freePort, waitFor } from '../../support/process.js';
import { family, nodeModel, peer, pool } from '../../support/model.js';
import { RawPeer } from '../../support/raw-peer.js';

const RR = '127.0.73.1';
const A = '127.0.73.2';
const B = '127.0.73.3';
const PREFIX = '203.0.113.0/25';
const SENTINEL_A = '203.0.113.128/26';
const SENTINEL_B = '203.0.113.192/26';
const AS = 64512;
const c = cleanup();
after(() => c.run());

const updates = (p: RawPeer): DecodedUpdate[] => p.received.filter((m: DecodedMessage): m is DecodedUpdate => m.type === 'UPDATE');
const announced = (p: RawPeer): DecodedUpdate[] => updates(p).filter((u) => u.nlri.toStrings().includes(PREFIX));
const withdrawn = (p: RawPeer): DecodedUpdate[] => updates(p).filter((u) => u.withdrawn.toStrings().includes(PREFIX));

function announce(p: RawPeer, from: string, localPref: number, prefix = PREFIX): void {
  p.sendRaw(
    encodeMessage(
      messageFromJson({ type: 'UPDATE', nlri: [prefix], attributes: { origin: 'igp', asPath: [], nextHop: from, localPref } }),
      DEFAULT_CONTEXT,
    ),
  );
}

test('a reflector sends no client its own routes back, and withdraws what its own route replaces', { timeout: 60_000 }, async () => {
  const port = await freePort(RR);
  const client = (name: string, address: string) => peer({ name, type: 'global', address, asNumber: AS, passive: true, calicoNode: false, routeReflectorClient: true });
  const speaker = new Speaker(
    nodeModel({ nodeName: 'rr', routerId: RR, asNumber: AS, routeReflectorClusterId: '1.1.1.1', ipv4: family({ address: RR, pools: [pool('203.0.113.0/24')], peers: [client('a', A), client('b', B)] }) }),
    { role: 'reflector', listenHost: RR, listenPort: port, log: pino({ level: 'silent' }), batchMs: 1 },
  );
  await speaker.start();
  c.add(() => speaker.stop());
  const a = await RawPeer.connect(RR, port, A);
  c.add(() => a.close());
  const b = await RawPeer.connect(RR, port, B);
  c.add(() => b.close());
  for (const [p, id] of [[a, A], [b, B]] as const) {
    await p.handshake({ as: AS, id, caps: [{ code: 1, afi: 1, safi: 1 }, { code: 65, asn: AS }] });
    p.keepAlive(5);
  }

  // A's route reaches B, carrying A as the originator; A does not get it back.
  announce(a, A, 100);
  const atB = (await b.waitFor((m) => m.type === 'UPDATE' && (m as DecodedUpdate).nlri.toStrings().includes(PREFIX), 10_000)) as DecodedUpdate | undefined;
  assert.ok(atB !== undefined, 'B learns A\'s route');
  assert.equal(atB.attributes.originatorId, A);
  assert.deepEqual(atB.attributes.clusterList, ['1.1.1.1']);

  // B's better route wins: A now gets B's; B does not get its own back.
  announce(b, B, 200);
  await waitFor('A learns B\'s route', () => announced(a).some((u) => u.attributes.originatorId === B), 10_000, 10);
  await waitFor('B hears A\'s route withdrawn (its own replaced it)', () => withdrawn(b).length > 0, 10_000, 10);

  // B withdraws: A's own route is best again, so A must drop B's copy.
  b.sendRaw(encodeMessage(messageFromJson({ type: 'UPDATE', withdrawn: [PREFIX] }), DEFAULT_CONTEXT));
  await waitFor('A hears B\'s route withdrawn', () => withdrawn(a).length > 0, 10_000, 10);
  await waitFor('B learns A\'s route again', () => announced(b).filter((u) => u.attributes.originatorId === A).length === 2, 10_000, 10);

  // Sentinels: a route each client sends now reaches the other behind
  // anything about PREFIX the reflector had still to send, on the same
  // connection; once both have theirs, nothing more about PREFIX can come.
  announce(a, A, 100, SENTINEL_A);
  announce(b, B, 100, SENTINEL_B);
  const has = (p: RawPeer, prefix: string): boolean => updates(p).some((u) => u.nlri.toStrings().includes(prefix));
  await waitFor('B learns A\'s sentinel and A learns B\'s', () => has(b, SENTINEL_A) && has(a, SENTINEL_B), 10_000, 10);
  assert.deepEqual(announced(a).map((u) => u.attributes.originatorId), [B], 'A only ever got B\'s route');
  assert.deepEqual(announced(b).map((u) => u.attributes.originatorId), [A, A], 'B only ever got A\'s route');
  assert.equal(has(a, SENTINEL_A) || has(b, SENTINEL_B), false, 'no sentinel went back to its sender either');
  // `status` counts what each client was sent: B has A's route and sentinel, A only B's sentinel.
  const sent = Object.fromEntries(speaker.status().peers.map((p) => [p.address, p.routesAdvertised]));
  assert.deepEqual(sent, { [A]: 1, [B]: 2 });
});
