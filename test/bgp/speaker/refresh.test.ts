/** Route refresh in both directions, including enhanced route refresh (RFC 7313) with stale marking. */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Speaker } from '../../../src/bgp/speaker/speaker.js';
import { DEFAULT_CONTEXT, encodeMessage, messageFromJson, type DecodedUpdate, type RouteRefreshMessage } from '../../../src/bgp/packet/index.js';
import { cleanup, freePort, waitFor } from '../../support/process.js';
import { block, family, nodeModel, peer, pool } from '../../support/model.js';
import { RawPeer } from '../../support/raw-peer.js';

const US = '127.0.71.1';
const THEM = '127.0.71.2';
const c = cleanup();
let speaker: Speaker;
let p: RawPeer;

before(async () => {
  const port = await freePort(US);
  speaker = new Speaker(
    nodeModel({
      nodeName: 'n1', routerId: US,
      ipv4: family({ address: US, pools: [pool('198.51.100.0/24')], blocks: [block('198.51.100.0/26')], peers: [peer({ name: 'Global_tor', type: 'global', address: THEM, asNumber: 65001, passive: true, calicoNode: false })] }),
    }),
    { role: 'node', listenHost: US, listenPort: port, log: pino({ level: 'silent' }), batchMs: 1 },
  );
  await speaker.start();
  c.add(() => speaker.stop());
  p = await RawPeer.connect(US, port, THEM);
  c.add(() => p.close());
  await p.handshake({ as: 65001, id: THEM, caps: [{ code: 1, afi: 1, safi: 1 }, { code: 65, asn: 65001 }, { code: 2 }, { code: 70 }] });
  p.keepAlive(5);
});
after(() => c.run());

const announces = (prefix: string) => (m: { type: string }) => m.type === 'UPDATE' && (m as DecodedUpdate).nlri.toStrings().includes(prefix);

test('the initial table carries our block, with our AS prepended for an external peer', async () => {
  const u = (await p.waitFor(announces('198.51.100.0/26'), 10_000)) as DecodedUpdate | undefined;
  assert.ok(u !== undefined);
  assert.deepEqual(u.attributes.asPath, [{ type: 2, asns: [64512] }]);
  assert.equal(u.attributes.nextHop, US);
  assert.equal(u.attributes.localPref, undefined, 'no LOCAL_PREF to an external peer');
});

test('a ROUTE-REFRESH request is answered with BoRR, the table, and EoRR', async () => {
  p.received.length = 0;
  p.send({ type: 'ROUTE-REFRESH', afi: 1, safi: 1, subtype: 0 });
  const eorr = await p.waitFor((m) => m.type === 'ROUTE-REFRESH' && (m as RouteRefreshMessage).subtype === 2, 10_000);
  assert.ok(eorr !== undefined, 'EoRR received');
  const kinds = p.received.map((m) => (m.type === 'ROUTE-REFRESH' ? `RR${(m as RouteRefreshMessage).subtype}` : m.type)).filter((k) => k !== 'KEEPALIVE');
  assert.deepEqual(kinds, ['RR1', 'UPDATE', 'RR2']);
  assert.ok(announces('198.51.100.0/26')(p.received.find((m) => m.type === 'UPDATE')!));
});

test('we ask the peer for a refresh', async () => {
  p.received.length = 0;
  assert.equal(speaker.refresh('Global_tor'), true);
  const rr = await p.waitFor((m) => m.type === 'ROUTE-REFRESH', 10_000);
  assert.deepEqual(rr, { type: 'ROUTE-REFRESH', afi: 1, safi: 1, subtype: 0 });
});

test('an enhanced refresh from the peer drops what it did not re-send', async () => {
  const upd = (nlri: string[]) =>
    encodeMessage(messageFromJson({ type: 'UPDATE', nlri, attributes: { origin: 'igp', asPath: [{ type: 'sequence', asns: [65001] }], nextHop: THEM } }), DEFAULT_CONTEXT);
  p.sendRaw(upd(['203.0.113.0/25', '203.0.113.128/25']));
  await waitFor('both learned', () => speaker.routes().routes.filter((r) => r.from === 'Global_tor').length === 2, 10_000, 20);
  p.send({ type: 'ROUTE-REFRESH', afi: 1, safi: 1, subtype: 1 });
  p.sendRaw(upd(['203.0.113.0/25']));
  p.send({ type: 'ROUTE-REFRESH', afi: 1, safi: 1, subtype: 2 });
  await waitFor('the one not re-sent is gone', () => speaker.routes('203.0.113.128/25').routes.length === 0, 10_000, 20);
  assert.equal(speaker.routes('203.0.113.0/25').routes.length, 1);
});
