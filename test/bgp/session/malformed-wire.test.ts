/**
 * Every RFC 4271 / RFC 7606 malformed case from the codec fixtures, sent on a
 * live session to our speaker over raw TCP: the session-reset cases must get
 * their NOTIFICATION, treat-as-withdraw must withdraw the route and keep the
 * session, attribute-discard must keep both; the process never crashes, and
 * a second, well-behaved peer stays Established throughout.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Speaker } from '../../../src/bgp/speaker/speaker.js';
import { encodeMessage, makeContext, messageFromJson, DEFAULT_CONTEXT, type NotificationMessage } from '../../../src/bgp/packet/index.js';
import { malformedCases } from '../packet/malformed.js';
import { cleanup, freePort, waitFor } from '../../support/process.js';
import { block, family, nodeModel, peer, pool } from '../../support/model.js';
import { RawPeer } from '../../support/raw-peer.js';

const SPEAKER = '127.0.51.1';
const BAD = '127.0.51.2';
const GOOD = '127.0.51.3';
const c = cleanup();
let speaker: Speaker;
let port: number;
let goodPeer: RawPeer;

const validJson = { type: 'UPDATE', nlri: ['198.51.100.0/24'], attributes: { origin: 'igp', asPath: [{ type: 'sequence', asns: [65001] }], nextHop: '192.0.2.1' } };
const validUpdate = encodeMessage(messageFromJson(validJson), DEFAULT_CONTEXT);
const validUpdate2 = encodeMessage(messageFromJson(validJson), makeContext({ fourOctetAs: false }));
/** Sent behind a malformed UPDATE: once it is learned, the one before it has been handled. */
const SENTINEL = '198.51.100.128/25';
const sentinelJson = { ...validJson, nlri: [SENTINEL] };
const sentinelUpdate = encodeMessage(messageFromJson(sentinelJson), DEFAULT_CONTEXT);
const sentinelUpdate2 = encodeMessage(messageFromJson(sentinelJson), makeContext({ fourOctetAs: false }));

before(async () => {
  port = await freePort(SPEAKER);
  const model = nodeModel({
    nodeName: 'n1',
    routerId: SPEAKER,
    ipv4: family({
      address: SPEAKER,
      pools: [pool('203.0.113.0/24')],
      blocks: [block('203.0.113.0/26')],
      peers: [
        peer({ name: 'Global_127_0_51_2', type: 'global', address: BAD, asNumber: 65001, passive: true, calicoNode: false }),
        peer({ name: 'Global_127_0_51_3', type: 'global', address: GOOD, asNumber: 65001, passive: true, calicoNode: false }),
      ],
    }),
  });
  speaker = new Speaker(model, { role: 'node', listenHost: SPEAKER, listenPort: port, log: pino({ level: 'silent' }), batchMs: 1 });
  await speaker.start();
  c.add(() => speaker.stop());
  goodPeer = await RawPeer.connect(SPEAKER, port, GOOD);
  c.add(() => goodPeer.close());
  await goodPeer.handshake({ as: 65001, id: GOOD });
  goodPeer.keepAlive(5);
});
after(() => c.run());

const learned = (): boolean => speaker.routes('198.51.100.0/24').routes.some((r) => r.from === 'Global_127_0_51_2');

async function session(twoOctet: boolean): Promise<RawPeer> {
  // The speaker may still be closing the previous connection.
  await waitFor('previous session gone', () => speaker.status().peers.find((p) => p.name === 'Global_127_0_51_2')?.state !== 'Established', 10_000, 20);
  const p = await RawPeer.connect(SPEAKER, port, BAD);
  c.add(() => p.close());
  await p.handshake({ as: 65001, id: BAD, caps: twoOctet ? [{ code: 1, afi: 1, safi: 1 }] : undefined });
  return p;
}

for (const mc of malformedCases) {
  const e = mc.expect;
  // Cases that need an internal peer are covered by the codec tests.
  if (mc.ctx?.peerType === 'internal') continue;
  const twoOctet = mc.ctx?.fourOctetAs === false;
  test(`on the wire: ${mc.name}`, { timeout: 30_000 }, async () => {
    const isOpen = mc.bytes[18] === 1;
    if (isOpen && 'notification' in e && !('verdict' in e)) {
      await waitFor('previous session gone', () => speaker.status().peers.find((p) => p.name === 'Global_127_0_51_2')?.state !== 'Established', 10_000, 20);
      const p = await RawPeer.connect(SPEAKER, port, BAD);
      c.add(() => p.close());
      p.sendRaw(mc.bytes);
      const n = (await p.waitFor((m) => m.type === 'NOTIFICATION', 10_000)) as NotificationMessage | undefined;
      assert.ok(n !== undefined, 'a NOTIFICATION came back');
      assert.deepEqual([n.code, n.subcode], e.notification);
      return;
    }
    const p = await session(twoOctet);
    try {
      await exercise(p);
    } finally {
      p.close();
    }
  });

  async function exercise(p: RawPeer): Promise<void> {
    p.sendRaw(twoOctet ? validUpdate2 : validUpdate);
    await waitFor('the valid route is learned', learned, 10_000, 20);
    p.sendRaw(mc.bytes);
    if (!('verdict' in e) || e.verdict === 'session-reset') {
      const want = e.notification;
      const n = (await p.waitFor((m) => m.type === 'NOTIFICATION', 10_000)) as NotificationMessage | undefined;
      assert.ok(n !== undefined, 'a NOTIFICATION came back');
      assert.deepEqual([n.code, n.subcode], want);
      await waitFor('the session is closed', () => p.closed, 10_000, 20);
      await waitFor('its routes are gone', () => !learned(), 10_000, 20);
    } else if (e.verdict === 'treat-as-withdraw') {
      await waitFor('the route is withdrawn', () => !learned(), 10_000, 20);
      assert.equal(p.closed, false, 'session kept');
      assert.equal(p.received.some((m) => m.type === 'NOTIFICATION'), false);
    } else {
      // attribute-discard: the route must still be there once the speaker
      // has handled the malformed UPDATE, i.e. learned the sentinel behind it.
      p.sendRaw(twoOctet ? sentinelUpdate2 : sentinelUpdate);
      await waitFor('the sentinel route is learned', () => speaker.routes(SENTINEL).routes.some((r) => r.from === 'Global_127_0_51_2'), 10_000, 20);
      assert.ok(learned(), 'route kept');
      assert.equal(p.received.some((m) => m.type === 'NOTIFICATION'), false);
      assert.equal(p.closed, false, 'session kept');
    }
  }
}

test('the well-behaved peer stayed Established through all of it', () => {
  assert.equal(speaker.status().peers.find((p) => p.name === 'Global_127_0_51_3')?.state, 'Established');
  assert.equal(goodPeer.closed, false);
});
