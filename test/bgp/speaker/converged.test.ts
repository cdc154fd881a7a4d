/**
 * When the speaker reports convergence (the kernel's cue to purge routes of
 * a previous run): End-of-RIB from every configured peer, not only from the
 * ones whose sessions are up at the time (RFC 4724 section 4.1). Found by
 * test/cluster/mesh.test.ts: a restarted node whose sessions to two of four
 * peers came up seconds later (a connection collision) purged those peers'
 * routes from its kernel and re-added them when the sessions came up.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Speaker } from '../../../src/bgp/speaker/speaker.js';
import { cleanup, freePort, waitFor } from '../../support/process.js';
import { block, family, nodeModel, peer, pool } from '../../support/model.js';

const c = cleanup();
after(() => c.run());
const log = pino({ level: process.env.TEST_LOG ?? 'silent' });
const A = '127.0.32.1';
const B = '127.0.32.2';
const SILENT = '127.0.32.9'; // a configured peer that never answers

test('a peer that is still connecting holds convergence back; End-of-RIB from the peers that are up is not enough', { timeout: 60_000 }, async () => {
  const portA = await freePort(A);
  const portB = await freePort(B);
  const silentPort = await freePort(SILENT);
  let converged = 0;
  const a = new Speaker(
    nodeModel({
      nodeName: 'a',
      routerId: A,
      ipv4: family({
        address: A,
        peers: [
          peer({ name: 'Mesh_127_0_32_2', address: B, port: portB, sourceAddress: A }),
          peer({ name: 'Mesh_127_0_32_9', address: SILENT, port: silentPort, sourceAddress: A }),
        ],
        pools: [pool('198.51.100.0/24')],
        blocks: [block('198.51.100.0/26')],
      }),
    }),
    { role: 'node', listenHost: A, listenPort: portA, log, session: { connectRetryTime: 1 }, onConverged: () => converged++ },
  );
  const modelB = (blocks: string[]): ReturnType<typeof nodeModel> =>
    nodeModel({
      nodeName: 'b',
      routerId: B,
      ipv4: family({ address: B, peers: [peer({ name: 'Mesh_127_0_32_1', address: A, port: portA, sourceAddress: B, passive: true })], pools: [pool('198.51.100.0/24')], blocks: blocks.map((x) => block(x)) }),
    });
  const b = new Speaker(modelB(['198.51.100.64/26']), { role: 'node', listenHost: B, listenPort: portB, log, session: { connectRetryTime: 1 } });
  await a.start();
  c.add(() => a.stop());
  await b.start();
  c.add(() => b.stop());
  await waitFor('A learns B\'s block (B\'s End-of-RIB follows it)', () => a.routes('198.51.100.64/26').routes.length === 1, 20_000);
  // A sentinel: a block B announces only now travels behind B's End-of-RIB
  // on the same connection, so once A has it, A has handled the End-of-RIB.
  b.applyModel(modelB(['198.51.100.64/26', '198.51.100.128/26']));
  await waitFor('A learns B\'s sentinel block', () => a.routes('198.51.100.128/26').routes.length === 1, 20_000);
  assert.equal(converged, 0, 'not converged while Mesh_127_0_32_9 has sent nothing');
});
