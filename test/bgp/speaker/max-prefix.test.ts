/** Max-prefix limits (RFC 4486): warn, or tear the session down with Cease / Maximum Number of Prefixes Reached. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Speaker } from '../../../src/bgp/speaker/speaker.js';
import { DEFAULT_CONTEXT, PrefixList, packUpdates, type NotificationMessage } from '../../../src/bgp/packet/index.js';
import { cleanup, freePort, waitFor } from '../../support/process.js';
import { family, nodeModel, peer } from '../../support/model.js';
import { RawPeer } from '../../support/raw-peer.js';

const c = cleanup();
after(() => c.run());

async function setup(us: string, them: string, action: 'warn' | 'teardown'): Promise<{ speaker: Speaker; p: RawPeer }> {
  const port = await freePort(us);
  const speaker = new Speaker(
    nodeModel({ nodeName: 'n', routerId: us, ipv4: family({ address: us, peers: [peer({ name: 'Global_tor', type: 'global', address: them, asNumber: 65001, passive: true, calicoNode: false })] }) }),
    { role: 'node', listenHost: us, listenPort: port, log: pino({ level: 'silent' }), batchMs: 1, maxPrefixes: { limit: 100, action } },
  );
  await speaker.start();
  c.add(() => speaker.stop());
  const p = await RawPeer.connect(us, port, them);
  c.add(() => p.close());
  await p.handshake({ as: 65001, id: them });
  const prefixes = Array.from({ length: 150 }, (_, i) => `203.0.${i >> 4}.${(i & 15) * 16}/28`);
  for (const m of packUpdates(PrefixList.fromStrings(1, prefixes), { origin: 0, asPath: [{ type: 2, asns: [65001] }], nextHop: them }, DEFAULT_CONTEXT)) p.sendRaw(m);
  return { speaker, p };
}

test('past the limit with teardown, the session closes with Cease / Maximum Number of Prefixes Reached', { timeout: 30_000 }, async () => {
  const { speaker, p } = await setup('127.0.72.1', '127.0.72.2', 'teardown');
  const n = (await p.waitFor((m) => m.type === 'NOTIFICATION', 10_000)) as NotificationMessage | undefined;
  assert.ok(n !== undefined);
  assert.deepEqual([n.code, n.subcode], [6, 1]);
  assert.equal(n.data.toString('hex'), '00010100000064', 'AFI 1, SAFI 1, limit 100');
  await waitFor('routes dropped', () => speaker.routes().routes.every((r) => r.from !== 'Global_tor'), 10_000, 20);
});

test('past the limit with warn, the session stays and the routes are kept', { timeout: 30_000 }, async () => {
  const { speaker, p } = await setup('127.0.72.3', '127.0.72.4', 'warn');
  await waitFor('all 150 learned', () => speaker.routes().routes.filter((r) => r.from === 'Global_tor').length === 150, 10_000, 20);
  assert.equal(p.received.some((m) => m.type === 'NOTIFICATION'), false);
});
