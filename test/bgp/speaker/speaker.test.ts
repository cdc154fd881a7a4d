/**
 * Our speaker against itself on loopback: mesh sessions, blocks exchanged
 * under Calico's export policy, live model changes, status and routes views.
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Speaker } from '../../../src/bgp/speaker/speaker.js';
import { cleanup, freePort, waitFor } from '../../support/process.js';
import { block, family, nodeModel, peer, pool } from '../../support/model.js';
import type { NodeBgpConfig } from '../../../src/model/types.js';

let c = cleanup();
afterEach(async () => {
  await c.run();
  c = cleanup();
});

const log = pino({ level: process.env.TEST_LOG ?? 'silent' });
const A = '127.0.31.1';
const B = '127.0.31.2';

function model(self: string, other: string, port: number, blocks: string[], extra: Partial<NodeBgpConfig> = {}): NodeBgpConfig {
  return nodeModel({
    nodeName: self,
    routerId: self,
    ipv4: family({
      address: self,
      peers: [peer({ name: `Mesh_${other.replace(/\./g, '_')}`, address: other, port, sourceAddress: self, passive: self > other })],
      pools: [pool('198.51.100.0/24')],
      blocks: blocks.map((b) => block(b)),
    }),
    ...extra,
  });
}

async function pair(): Promise<{ a: Speaker; b: Speaker; portA: number; portB: number }> {
  const portA = await freePort(A);
  const portB = await freePort(B);
  const a = new Speaker(model(A, B, portB, ['198.51.100.0/26']), { role: 'node', listenHost: A, listenPort: portA, log, session: { connectRetryTime: 1 } });
  const b = new Speaker(model(B, A, portA, ['198.51.100.64/26']), { role: 'node', listenHost: B, listenPort: portB, log, session: { connectRetryTime: 1 } });
  await a.start();
  c.add(() => a.stop());
  await b.start();
  c.add(() => b.stop());
  await waitFor('mesh session up', () => a.status().peers[0]?.state === 'Established' && b.status().peers[0]?.state === 'Established', 20_000);
  return { a, b, portA, portB };
}

test('two speakers mesh and learn each other\'s blocks', { timeout: 60_000 }, async () => {
  const { a, b } = await pair();
  await waitFor('A learns B\'s block', () => a.routes('198.51.100.64/26').routes.some((r) => r.from === 'Mesh_127_0_31_2' && r.best));
  await waitFor('B learns A\'s block', () => b.routes('198.51.100.0/26').routes.some((r) => r.from === 'Mesh_127_0_31_1'));
  const r = a.routes('198.51.100.64/26').routes[0]!;
  assert.deepEqual(r.nextHops, [B]);
  assert.equal(r.localPref, 100);
  const s = a.status();
  assert.equal(s.routerId, A);
  assert.equal(s.peers[0]!.routesAccepted, 1);
  assert.equal(s.peers[0]!.routesAdvertised, 1);
});

test('a new block is announced and a removed one withdrawn, without resetting the session', { timeout: 60_000 }, async () => {
  const { a, b, portB } = await pair();
  const since = a.status().peers[0]!.since;
  a.applyModel(model(A, B, portB, ['198.51.100.128/26']));
  await waitFor('B sees the new block', () => b.routes('198.51.100.128/26').routes.length === 1);
  await waitFor('B loses the old block', () => b.routes('198.51.100.0/26').routes.length === 0);
  assert.equal(a.status().peers[0]!.since, since, 'the session was not reset');
});

test('only what Calico exports leaves the node: pending blocks and out-of-pool routes stay home', { timeout: 60_000 }, async () => {
  const { a, b, portB } = await pair();
  const m = model(A, B, portB, ['198.51.100.0/26']);
  m.ipv4.blocks.push(block('198.51.100.192/26', 'pending'));
  m.ipv4.staticRoutes.push('203.0.113.0/24');
  a.applyModel(m);
  await waitFor('the service range is advertised', () => b.routes('203.0.113.0/24').routes.length === 1);
  assert.equal(b.routes('198.51.100.192/26').routes.length, 0, 'pending block not exported');
});

test('a removed peer is stopped with a Cease and its routes are withdrawn', { timeout: 60_000 }, async () => {
  const { a, b } = await pair();
  await waitFor('A learns B\'s block', () => a.routes('198.51.100.64/26').routes.length === 1);
  b.applyModel(nodeModel({ nodeName: B, routerId: B, ipv4: family({ address: B, blocks: [block('198.51.100.64/26')], pools: [pool('198.51.100.0/24')] }) }));
  await waitFor('A drops B\'s routes', () => a.routes('198.51.100.64/26').routes.length === 0);
  await waitFor('A reports why', () => /NOTIFICATION received: Cease/.test(a.status().peers[0]!.info));
});

test('IPv6 transport: two speakers on ::1 exchange IPv6 blocks', { timeout: 60_000 }, async () => {
  const pA = await freePort('::1');
  const pB = await freePort('::1');
  const v6model = (self: string, port: number, blk: string): NodeBgpConfig =>
    nodeModel({
      nodeName: self,
      routerId: self === 'a' ? A : B,
      ipv6: family({
        address: '::1',
        peers: [peer({ name: `Mesh_${self}`, address: '::1', port, passive: self === 'b' })],
        pools: [pool('2001:db8:100::/48')],
        blocks: [block(blk)],
      }),
    });
  const a = new Speaker(v6model('a', pB, '2001:db8:100::/122'), { role: 'node', listenHost: '::1', listenPort: pA, log, session: { connectRetryTime: 1 } });
  const b = new Speaker(v6model('b', pA, '2001:db8:100::40/122'), { role: 'node', listenHost: '::1', listenPort: pB, log, session: { connectRetryTime: 1 } });
  await a.start();
  c.add(() => a.stop());
  await b.start();
  c.add(() => b.stop());
  await waitFor('A learns B\'s IPv6 block', () => a.routes('2001:db8:100::40/122').routes.length === 1, 20_000);
  await waitFor('B learns A\'s IPv6 block', () => b.routes('2001:db8:100::/122').routes.length === 1, 20_000);
  assert.deepEqual(a.routes('2001:db8:100::40/122').routes[0]!.nextHops, ['::1']);
});

test('TCP-MD5 from the model: matching passwords establish, a wrong one never does and status says why', { timeout: 60_000 }, async () => {
  const portA = await freePort(A);
  const portB = await freePort(B);
  const withPassword = (self: string, other: string, port: number, password: string): NodeBgpConfig => {
    const m = model(self, other, port, []);
    m.ipv4.peers[0]!.password = password;
    return m;
  };
  const a = new Speaker(withPassword(A, B, portB, 'calico-secret'), { role: 'node', listenHost: A, listenPort: portA, log, session: { connectRetryTime: 1 } });
  const b = new Speaker(withPassword(B, A, portA, 'calico-secret'), { role: 'node', listenHost: B, listenPort: portB, log, session: { connectRetryTime: 1 } });
  await a.start();
  c.add(() => a.stop());
  await b.start();
  c.add(() => b.stop());
  await waitFor('MD5 session up', () => a.status().peers[0]?.state === 'Established', 20_000);

  // Rotate only B's password: the session must not come back.
  b.applyModel(withPassword(B, A, portA, 'rotated-wrong'));
  await waitFor('session down', () => a.status().peers[0]?.state !== 'Established', 20_000);
  // A connects; B's kernel drops the SYNs signed with the old key, so A's
  // attempts time out, and status says what that usually means.
  await waitFor('A to explain', () => /MD5 password mismatch suspected/.test(a.status().peers[0]!.info), 40_000, 200).catch((e: Error) => {
    throw new Error(`${e.message}: A says ${JSON.stringify(a.status().peers[0])}`);
  });
  assert.notEqual(a.status().peers[0]?.state, 'Established');
  assert.notEqual(b.status().peers[0]?.state, 'Established');
});
