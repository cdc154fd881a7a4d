/**
 * TCP-MD5 and GTSM through the native addon, on loopback, without other
 * daemons: keys on listening sockets, TTLs, two of our own neighbors over
 * MD5, and what happens when the addon is missing.
 */
import { test, describe, afterEach, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import {
  ListenerSecurity,
  connectWithOptions,
  getTtl,
  loadSocketOptions,
  secureConnector,
  setListenerPassword,
  setListenerTtl,
  setMinTtl,
  socketOptionsAvailable,
  transportProblem,
} from '../../../src/bgp/session/sockopt.js';
import { Neighbor, type NeighborConfig } from '../../../src/bgp/session/neighbor.js';
import type { DownReason } from '../../../src/bgp/fsm/fsm.js';
import { cleanup, waitFor } from '../../support/process.js';

const built = socketOptionsAvailable();
const skip = built.ok ? false : `native addon unavailable: ${built.reason}`;

let c = cleanup();
afterEach(async () => {
  await c.run();
  c = cleanup();
});
// Tests below swap the addon out; leave it loaded for whoever runs next.
after(() => void loadSocketOptions());

/** A server on host:0 that records accepted sockets. */
async function server(host: string): Promise<{ srv: Server; port: number; accepted: Socket[] }> {
  const accepted: Socket[] = [];
  const srv = createServer((s) => {
    accepted.push(s);
    c.add(() => void s.destroy());
  });
  await new Promise<void>((resolve) => srv.listen(0, host, resolve));
  c.add(() => new Promise<void>((resolve) => srv.close(() => resolve())));
  const a = srv.address();
  return { srv, port: typeof a === 'object' && a !== null ? a.port : 0, accepted };
}

/** A plain connect that must not complete: resolves 'timeout' or the error code. */
function plainAttempt(host: string, port: number, localAddress: string, ms: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host, port, localAddress });
    const t = setTimeout(() => {
      s.destroy();
      resolve('timeout');
    }, ms);
    s.once('connect', () => {
      clearTimeout(t);
      s.destroy();
      resolve('connected');
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(t);
      resolve(e.code ?? e.message);
    });
  });
}

function nbrConfig(over: Partial<NeighborConfig>): NeighborConfig {
  return {
    name: 'test',
    address: '127.0.0.1',
    port: 179,
    passive: false,
    localAs: 64512,
    peerAs: 64512,
    routerId: '127.0.0.1',
    holdTime: 9,
    connectRetryTime: 1,
    capabilities: [{ code: 1, afi: 1, safi: 1 }],
    idleHold: { initialSeconds: 0.2, maxSeconds: 1, stableSeconds: 60 },
    ...over,
  };
}

describe('TCP-MD5 and GTSM socket options', { skip, timeout: 60_000 }, () => {
  test('a listening socket with a key accepts only connections signed with it', async () => {
    const { srv, port, accepted } = await server('127.0.0.1');
    setListenerPassword(srv, '127.0.31.2', 'right key');
    const good = await connectWithOptions({ host: '127.0.0.1', port, localAddress: '127.0.31.2', password: 'right key', timeoutMs: 3000 });
    c.add(() => void good.destroy());
    await waitFor('the signed connection to be accepted', () => accepted.length === 1, 3000, 20);
    assert.equal(accepted[0]!.remoteAddress, '127.0.31.2');
    // Data flows both ways on the fd-backed socket.
    const got = new Promise<string>((resolve) => good.once('data', (d) => resolve(d.toString())));
    accepted[0]!.write('ping');
    assert.equal(await got, 'ping');

    await assert.rejects(
      connectWithOptions({ host: '127.0.0.1', port, localAddress: '127.0.31.2', password: 'wrong key', timeoutMs: 1500 }),
      (e: NodeJS.ErrnoException) => e.code === 'ETIMEDOUT' && /connect 127\.0\.0\.1:\d+: Connection timed out/.test(e.message),
    );
    assert.equal(await plainAttempt('127.0.0.1', port, '127.0.31.2', 1500), 'timeout');
    assert.equal(accepted.length, 1);

    // Removing the key lets unsigned connections in again.
    setListenerPassword(srv, '127.0.31.2', null);
    assert.equal(await plainAttempt('127.0.0.1', port, '127.0.31.2', 1500), 'connected');
  });

  test('a dual-stack listener keys IPv4 peers as mapped addresses and IPv6 peers as themselves', async () => {
    const { srv, port, accepted } = await server('::');
    setListenerPassword(srv, '127.0.31.3', 'v4 key');
    setListenerPassword(srv, '::1', 'v6 key');
    const v4 = await connectWithOptions({ host: '127.0.0.1', port, localAddress: '127.0.31.3', password: 'v4 key', timeoutMs: 3000 });
    c.add(() => void v4.destroy());
    const v6 = await connectWithOptions({ host: '::1', port, password: 'v6 key', timeoutMs: 3000 });
    c.add(() => void v6.destroy());
    await waitFor('both connections to be accepted', () => accepted.length === 2, 3000, 20);
    await assert.rejects(connectWithOptions({ host: '::1', port, password: 'v4 key', timeoutMs: 1000 }), /timed out/);
  });

  test('GTSM sends with TTL 255 and needs 255 back for one hop', async () => {
    const plain = await server('127.0.0.1');
    // The plain listener answers with TTL 64: a one-hop GTSM connect drops that SYN-ACK.
    await assert.rejects(connectWithOptions({ host: '127.0.0.1', port: plain.port, ttlSecurity: 1, timeoutMs: 1500 }), /timed out/);

    const { srv, port, accepted } = await server('127.0.0.1');
    setListenerTtl(srv);
    assert.deepEqual(getTtl(srv), [255, 1]);
    const s = await connectWithOptions({ host: '127.0.0.1', port, ttlSecurity: 1, timeoutMs: 3000 });
    c.add(() => void s.destroy());
    assert.deepEqual(getTtl(s), [255, 255]);
    await waitFor('the GTSM connection to be accepted', () => accepted.length === 1, 3000, 20);
    setMinTtl(accepted[0]!, 2);
    assert.deepEqual(getTtl(accepted[0]!), [255, 254]);
    setMinTtl(accepted[0]!, 0);
    assert.deepEqual(getTtl(accepted[0]!), [64, 0]);
    assert.throws(() => setMinTtl(accepted[0]!, 300), RangeError);
  });

  test('GTSM works on IPv6 sockets', async () => {
    const { srv, port, accepted } = await server('::1');
    setListenerTtl(srv);
    const s = await connectWithOptions({ host: '::1', port, ttlSecurity: 2, timeoutMs: 3000 });
    c.add(() => void s.destroy());
    assert.deepEqual(getTtl(s), [255, 254]);
    await waitFor('the connection to be accepted', () => accepted.length === 1, 3000, 20);
    setMinTtl(accepted[0]!, 1);
    assert.deepEqual(getTtl(accepted[0]!), [255, 255]);
  });

  test('a listener follows peer changes: keys added, rotated and removed in place', async () => {
    const { srv, port, accepted } = await server('127.0.0.1');
    const sec = new ListenerSecurity(srv);
    const peer = { name: 'p', address: '127.0.31.4', password: 'one' };
    assert.deepEqual(sec.update([peer, { name: 'plain', address: '127.0.31.5' }]), []);
    const signed = (password: string): Promise<Socket> => connectWithOptions({ host: '127.0.0.1', port, localAddress: '127.0.31.4', password, timeoutMs: 1000 });
    (await signed('one')).destroy();
    assert.equal(await plainAttempt('127.0.0.1', port, '127.0.31.5', 1500), 'connected');

    assert.deepEqual(sec.update([{ ...peer, password: 'two' }]), []);
    await assert.rejects(signed('one'), /timed out/);
    const kept = await signed('two');
    c.add(() => void kept.destroy());

    assert.deepEqual(sec.update([]), []);
    assert.equal(await plainAttempt('127.0.0.1', port, '127.0.31.4', 1500), 'connected');
    await waitFor('the accepted connections', () => accepted.length === 4, 3000, 20);
    // accepted[2] is the connection signed with 'two', still open.
    assert.equal(sec.accepted(accepted[2]!, { name: 'g', address: '127.0.31.4', ttlSecurity: 1 }), null);
    assert.deepEqual(getTtl(accepted[2]!), [255, 255]);
    assert.match(sec.accepted(accepted[2]!, { ...peer, password: 'three' }) ?? '', /TCP-MD5 key not installed on the listener/);
  });

  test('two of our neighbors reach Established over MD5 through the async connector', async () => {
    const A = '127.0.31.10';
    const B = '127.0.31.11';
    const { srv, port } = await server(B);
    srv.removeAllListeners('connection');
    setListenerPassword(srv, A, 'mesh secret');
    const passive = new Neighbor(nbrConfig({ name: 'A', address: A, passive: true, routerId: B }), {});
    srv.on('connection', (s: Socket) => {
      if (!passive.accept(s)) s.destroy();
    });
    const active = new Neighbor(nbrConfig({ name: 'B', address: B, port, localAddress: A, routerId: A }), {}, undefined, secureConnector(() => ({ password: 'mesh secret' })));
    passive.start();
    active.start();
    c.add(() => {
      active.stop('test finished');
      passive.stop('test finished');
    });
    await waitFor('both to be Established', () => active.state === 'Established' && passive.state === 'Established', 15_000, 50);
  });
});

describe('without the native addon', { timeout: 30_000 }, () => {
  test('reports why, and refuses MD5 and GTSM with a clear error', async () => {
    const s = loadSocketOptions('/nonexistent/native/build/Release/bgp_sockopt.node');
    try {
      assert.equal(s.ok, false);
      assert.match(s.ok ? '' : s.reason, /native addon not built \(\/nonexistent\/.*bgp_sockopt\.node is missing; run scripts\/build-native\.sh\)/);
      assert.deepEqual(socketOptionsAvailable(), s);
      await assert.rejects(connectWithOptions({ host: '127.0.0.1', port: 1, password: 'x' }), /^Error: TCP-MD5 unavailable: native addon not built/);
      await assert.rejects(connectWithOptions({ host: '127.0.0.1', port: 1, ttlSecurity: 1 }), /^Error: GTSM unavailable: /);
      const { srv } = await server('127.0.0.1');
      assert.throws(() => setListenerPassword(srv, '127.0.0.2', 'x'), /TCP-MD5 unavailable: native addon not built/);
      // Clearing a key that cannot have been set is a no-op, not an error.
      setListenerPassword(srv, '127.0.0.2', null);
      const sec = new ListenerSecurity(srv);
      const secured = { name: 'Mesh_127_0_0_2', address: '127.0.0.2', password: 'x' };
      assert.deepEqual(sec.update([secured, { name: 'plain', address: '127.0.0.3' }]), [
        'peer Mesh_127_0_0_2 (127.0.0.2): TCP-MD5 unavailable: native addon not built (/nonexistent/native/build/Release/bgp_sockopt.node is missing; run scripts/build-native.sh)',
      ]);
      // A secured peer that connects anyway, unsigned, is refused.
      const fake = connect({ host: '127.0.0.1', port: 9 });
      fake.on('error', () => {});
      c.add(() => void fake.destroy());
      assert.match(sec.accepted(fake, secured) ?? '', /^peer Mesh_127_0_0_2 \(127\.0\.0\.2\): TCP-MD5 unavailable/);
      assert.equal(sec.accepted(fake, { name: 'plain', address: '127.0.0.3' }), null);
      assert.equal(transportProblem({ name: 'Mesh_127_0_0_2', address: '127.0.0.2' }, { password: null, ttlSecurity: 0 }), null);
      assert.match(transportProblem({ name: 'Mesh_127_0_0_2', address: '127.0.0.2' }, { password: 'x' }) ?? '', /^peer Mesh_127_0_0_2 \(127\.0\.0\.2\): TCP-MD5 unavailable: /);
    } finally {
      loadSocketOptions();
    }
  });

  test('a peer with a password stays down naming the cause while a plain peer comes up', async () => {
    loadSocketOptions('/nonexistent/bgp_sockopt.node');
    c.add(() => void loadSocketOptions());
    const HOST = '127.0.31.20';
    const { srv, port } = await server(HOST);
    srv.removeAllListeners('connection');
    const plainPeer = new Neighbor(nbrConfig({ name: 'plain-side', address: '127.0.31.21', passive: true, routerId: HOST }), {});
    srv.on('connection', (s: Socket) => {
      if (!plainPeer.accept(s)) s.destroy();
    });
    const connector = secureConnector((cfg) => (cfg.name === 'secured' ? { password: 'x' } : undefined));
    const downs: DownReason[] = [];
    const secured = new Neighbor(nbrConfig({ name: 'secured', address: HOST, port, localAddress: '127.0.31.22' }), { down: (r) => downs.push(r) }, undefined, connector);
    const plain = new Neighbor(nbrConfig({ name: 'plain', address: HOST, port, localAddress: '127.0.31.21', routerId: '127.0.31.21' }), {}, undefined, connector);
    for (const n of [plainPeer, secured, plain]) {
      n.start();
      c.add(() => n.stop('test finished'));
    }
    await waitFor('the plain session to be Established', () => plain.state === 'Established' && plainPeer.state === 'Established', 15_000, 50);
    await waitFor('the secured session to report why it is down', () => downs.length > 0, 5000, 50);
    assert.notEqual(secured.state, 'Established');
    assert.match(JSON.stringify(downs[0]), /peer secured \(127\.0\.31\.20\): TCP-MD5 unavailable: native addon not built/);
  });
});
