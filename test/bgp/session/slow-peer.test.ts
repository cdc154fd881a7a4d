/** A peer that stops reading cannot make us buffer without bound. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { MiniSpeaker } from '../../support/mini-speaker.js';
import { RawPeer } from '../../support/raw-peer.js';
import { cleanup, freePort, waitFor } from '../../support/process.js';

const c = cleanup();
after(() => c.run());

test('a session whose peer stops reading is reset once the queue passes the limit', { timeout: 60_000 }, async () => {
  const US = '127.0.61.1';
  const THEM = '127.0.61.2';
  const port = await freePort(US);
  const us = new MiniSpeaker({
    name: 'slow', address: THEM, port: 179, passive: true, localAs: 64512, peerAs: 64512, routerId: US,
    holdTime: 90, connectRetryTime: 5, capabilities: [{ code: 1, afi: 1, safi: 1 }], maxQueuedBytes: 1024 * 1024,
  });
  await us.listen(c, US, port);
  us.start(c);
  const peer = await RawPeer.connect(US, port, THEM);
  c.add(() => peer.close());
  await peer.handshake({ as: 64512, id: THEM });
  await waitFor('Established', () => us.neighbor.state === 'Established', 10_000, 20);
  peer.socket.pause(); // the peer stops reading

  const chunk = Buffer.alloc(64 * 1024, 0xff);
  let wrote = 0;
  // Bounded: at most 512 MiB of attempts, far beyond any socket buffer.
  while (us.neighbor.state === 'Established' && wrote < 512 * 1024 * 1024) {
    us.neighbor.writeUpdates([chunk]);
    wrote += chunk.length;
    if (wrote % (4 * 1024 * 1024) === 0) await new Promise((r) => setImmediate(r));
  }
  assert.notEqual(us.neighbor.state, 'Established');
  const down = us.downs.at(-1);
  assert.ok(down?.kind === 'stopped' && /did not read/.test(down.reason), JSON.stringify(down));
});
