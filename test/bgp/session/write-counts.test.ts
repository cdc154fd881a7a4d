/**
 * A connection counts messages, not writes: update groups hand it one Buffer
 * per flush holding thousands of UPDATEs, and the per-peer counters (status,
 * `calico_bgpd_bgp_messages_sent_total`) must count each of them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { DEFAULT_CONTEXT, encodeMessage, messageFromJson } from '../../../src/bgp/packet/index.js';
import { Connection } from '../../../src/bgp/session/connection.js';
import { SessionStats } from '../../../src/bgp/session/session-stats.js';

test('writeAll counts every message inside a joined buffer, by type', async () => {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const socket = connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  const [far] = await accepted;
  let received = 0;
  far.on('data', (b: Buffer) => (received += b.length));
  try {
    const stats = new SessionStats();
    const conn = new Connection(socket, 'outgoing', { event: () => undefined, closed: () => undefined }, stats);
    const update = (prefix: string): Buffer =>
      encodeMessage(messageFromJson({ type: 'UPDATE', nlri: [prefix], attributes: { origin: 'igp', asPath: [], nextHop: '192.0.2.1', localPref: 100 } }), DEFAULT_CONTEXT);
    const flush = Buffer.concat([update('198.51.100.0/26'), update('198.51.100.64/26'), update('198.51.100.128/26')]);
    const keepalive = encodeMessage({ type: 'KEEPALIVE' }, DEFAULT_CONTEXT);
    conn.writeAll([flush, keepalive]);
    assert.equal(conn.txMessages, 4);
    assert.equal(stats.sent[2], 3, 'three UPDATEs');
    assert.equal(stats.sent[4], 1, 'one KEEPALIVE');
    const total = flush.length + keepalive.length;
    for (let i = 0; i < 100 && received < total; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(received, total, 'every octet reached the far end');
  } finally {
    socket.destroy();
    far.destroy();
    server.close();
  }
});
