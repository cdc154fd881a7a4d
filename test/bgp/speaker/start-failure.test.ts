/**
 * A speaker that cannot listen on one of its addresses fails to start with
 * a clear error and leaves none of its other addresses bound (a half-started
 * speaker would hold a port, and its process, open).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { pino } from 'pino';
import { Speaker } from '../../../src/bgp/speaker/speaker.js';
import { family, nodeModel } from '../../support/model.js';
import { freePortOn } from '../../support/process.js';

const V4 = '127.0.74.1';
const V6 = '::1';

test('a speaker that cannot bind one address releases the others and says which failed', async () => {
  const port = await freePortOn([V4, V6]);
  const blocker = createServer();
  blocker.listen(port, V6);
  await once(blocker, 'listening');
  try {
    const speaker = new Speaker(nodeModel({ nodeName: 'n1', routerId: V4, bindMode: 'NodeIP', ipv4: family({ address: V4 }), ipv6: family({ address: V6 }) }), {
      role: 'node',
      listenPort: port,
      log: pino({ level: 'silent' }),
    });
    await assert.rejects(speaker.start(), new RegExp(`cannot listen on ::1 port ${port}: .*EADDRINUSE`));
    // The IPv4 address it did bind is free again.
    const probe = createServer();
    probe.listen(port, V4);
    await once(probe, 'listening');
    probe.close();
  } finally {
    blocker.close();
  }
});
